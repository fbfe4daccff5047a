// The outbox reactors (reactor.h, RegistryReactors): webhook-outbox delivers what
// registry.notification.requested.v1 asks and records the outcome; operator-notify asks for a
// webhook to the operator when drift is detected.
//
// webhook-outbox: for each request of this registry's own origin it POSTs the request itself
// (the CloudEvent, structured mode) to the target, Idempotency-Key = the notification_id. A 2xx
// answer records registry.notification.delivered.v1 {notification_id, attempts}; a failure is
// retried through the runner's backoff (an Unavailable answer) up to kNotificationAttemptsMax
// attempts, then recorded as registry.notification.failed.v1 {notification_id, attempts,
// error}; a target no retry can reach (not an http(s) URL) fails at once. Delivery is at least
// once: a crash between the POST and the outcome's append posts again, under the same key. A
// request whose stream already holds its outcome (a replay) is not posted again. The outcome
// goes to the request's stream; its key is the request's reaction key, so it is recorded once.
#include <simdjson.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "annals/base/json_writer.h"
#include "annals/eventstore/cloudevent.h"
#include "annals/reactors/limits.h"
#include "annals/reactors/reactor.h"
#include "annals/schemas/event_types.h"
#include "internal/outbox.h"
#include "internal/reaction_event.h"
#include "internal/record_data.h"

namespace annals::reactors {
namespace es = annals::eventstore;
namespace types = annals::schemas::event_types;

namespace {

constexpr std::string_view kOutboxName = "webhook-outbox";
constexpr std::string_view kOperatorName = "operator-notify";

using internal::IsOwn;

class WebhookOutboxReactor final : public Reactor {
 public:
  WebhookOutboxReactor(const es::Ledger* ledger, WebhookPost post)
      : ledger_(ledger), post_(std::move(post)) {}

  std::string_view name() const override { return kOutboxName; }
  bool Wants(std::string_view type) const override { return type == types::kNotificationRequested; }

  Result<std::vector<es::ProposedEvent>> React(const es::Record& record) override {
    std::vector<es::ProposedEvent> events;
    if (record.event().type() != types::kNotificationRequested || !IsOwn(*ledger_, record)) {
      return events;
    }
    simdjson::dom::parser parser;
    ANNALS_ASSIGN_OR_RETURN(simdjson::dom::element data, internal::ParseData(parser, record));
    const std::string id = internal::StringMember(data, "notification_id");
    const std::string target = internal::StringMember(data, "target");
    ANNALS_ASSIGN_OR_RETURN(bool settled, HasOutcome(record, id));
    if (settled) return events;

    const int attempts = ++attempts_[record.position()];
    const Status posted = post_(target, es::CloudEventToJson(record.event()), id);
    if (!posted.ok() && posted.code() != StatusCode::kInvalidArgument &&
        attempts < kNotificationAttemptsMax) {
      // The runner retries with its backoff.
      return Status::Unavailable("delivering notification " + id + " (attempt " +
                                 std::to_string(attempts) + "): " + posted.ToString());
    }
    attempts_.erase(record.position());
    JsonWriter out;
    out.BeginObject().Member("notification_id", id).Member("attempts", uint64_t(attempts));
    if (!posted.ok()) out.Member("error", posted.ToString().substr(0, kStatusErrorBytesMax));
    out.EndObject();
    es::ProposedEvent outcome =
        internal::ReactionEvent(kOutboxName, posted.ok() ? types::kNotificationDelivered : types::kNotificationFailed,
               record, record.stream().empty() ? "notification-" + id : record.stream(),
               out.Release());
    outcome.stream = record.stream();
    events.push_back(std::move(outcome));
    return events;
  }

 private:
  // Whether the request's stream already holds an outcome of notification `id` (a replay).
  Result<bool> HasOutcome(const es::Record& request, const std::string& id) const {
    if (request.stream().empty()) return false;
    uint64_t from = request.revision() + 1;
    for (;;) {
      ANNALS_ASSIGN_OR_RETURN(es::ReadPage page, ledger_->ReadStream(request.stream(), from, 100));
      for (const es::Record& r : page.records) {
        const std::string& type = r.event().type();
        if (type != types::kNotificationDelivered && type != types::kNotificationFailed) continue;
        simdjson::dom::parser parser;
        auto data = internal::ParseData(parser, r);
        if (data.ok() && internal::StringMember(*data, "notification_id") == id) return true;
      }
      if (page.end || page.records.empty()) return false;
      from = page.next;
    }
  }

  const es::Ledger* const ledger_;
  const WebhookPost post_;
  std::unordered_map<uint64_t, int> attempts_;  // by request position, until its outcome
};

// operator-notify: a registry.compliance.drift_detected.v1 of this registry's own asks for a
// webhook to the operator (registry.notification.requested.v1, notification_id
// "drift-<position>", stream notification-drift-<position>).
class OperatorNotifyReactor final : public Reactor {
 public:
  OperatorNotifyReactor(const es::Ledger* ledger, std::string target)
      : ledger_(ledger), target_(std::move(target)) {}

  std::string_view name() const override { return kOperatorName; }
  bool Wants(std::string_view type) const override { return type == types::kDriftDetected; }

  Result<std::vector<es::ProposedEvent>> React(const es::Record& record) override {
    std::vector<es::ProposedEvent> events;
    if (record.event().type() != types::kDriftDetected || !IsOwn(*ledger_, record)) return events;
    simdjson::dom::parser parser;
    ANNALS_ASSIGN_OR_RETURN(simdjson::dom::element data, internal::ParseData(parser, record));
    const std::string peer = internal::StringMember(data, "peer_id");
    const std::string id = "drift-" + std::to_string(record.position());
    JsonWriter out;
    out.BeginObject()
        .Member("notification_id", id)
        .Member("channel", "webhook")
        .Member("target", target_)
        .Member("subject", "policy drift detected with peer " + peer)
        .Member("body", "registry.compliance.drift_detected.v1 at position " +
                            std::to_string(record.position()) + ": peer " + peer +
                            " diverges from this registry's policy; its status is now DRIFT.")
        .Member("caused_by", record.position())
        .EndObject();
    es::ProposedEvent request =
        internal::ReactionEvent(kOperatorName, types::kNotificationRequested, record, "notification-" + id,
               out.Release());
    request.stream = "notification-" + id;
    events.push_back(std::move(request));
    return events;
  }

 private:
  const es::Ledger* const ledger_;
  const std::string target_;
};

}  // namespace

std::unique_ptr<Reactor> MakeWebhookOutbox(const es::Ledger* ledger, WebhookPost post) {
  return std::make_unique<WebhookOutboxReactor>(ledger, std::move(post));
}

std::unique_ptr<Reactor> MakeOperatorNotify(const es::Ledger* ledger, std::string target) {
  return std::make_unique<OperatorNotifyReactor>(ledger, std::move(target));
}

}  // namespace annals::reactors
