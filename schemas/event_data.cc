#include "annals/schemas/event_data.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "annals/base/assert.h"
#include "annals/base/time_format.h"
#include "annals/schemas/event_types.h"
#include "annals/schemas/limits.h"

namespace annals::schemas {
namespace {

// ---------------------------------------------------------------------------------------------
// The catalog: EVENTS.md as a table. Every field listed there is required unless EVENTS.md says
// otherwise (an "(optional ...)" or a default); docs/events.md shows each type with an example.

using enum FieldKind;

// Ids and machine names: non-empty.
constexpr FieldSchema Id(std::string_view name) {
  return {.name = name, .kind = kNonEmptyString, .bytes_max = kDataIdBytesMax};
}
constexpr FieldSchema Name(std::string_view name) {
  return {.name = name, .kind = kNonEmptyString, .bytes_max = kDataNameBytesMax};
}
constexpr FieldSchema Url(std::string_view name) {
  return {.name = name, .kind = kNonEmptyString, .bytes_max = kDataUrlBytesMax};
}
// Prose and other strings that may be empty.
constexpr FieldSchema Text(std::string_view name, size_t bytes_max = kDataDescriptionBytesMax) {
  return {.name = name, .kind = kString, .bytes_max = bytes_max};
}
constexpr FieldSchema Enum(std::string_view name, std::span<const std::string_view> allowed) {
  return {.name = name, .kind = kEnum, .allowed = allowed};
}
constexpr FieldSchema Of(FieldKind kind, std::string_view name) {
  return {.name = name, .kind = kind};
}
constexpr FieldSchema Object(std::string_view name, std::span<const FieldSchema> fields = {}) {
  return {.name = name, .kind = kObject, .fields = fields};
}
constexpr FieldSchema Strings(std::string_view name) {
  return {.name = name, .kind = kStringArray, .bytes_max = kDataNameBytesMax};
}
constexpr FieldSchema Objects(std::string_view name, std::span<const FieldSchema> fields) {
  return {.name = name, .kind = kObjectArray, .fields = fields};
}
constexpr FieldSchema Optional(FieldSchema field, std::string_view default_value = {}) {
  field.presence = Presence::kOptional;
  field.default_value = default_value;
  return field;
}

constexpr std::string_view kPeerKinds[] = {"frame", "operator"};
constexpr std::string_view kRelations[] = {"direct", "discovered"};
constexpr std::string_view kPeerStatuses[] = {"ACTIVE", "INACTIVE", "DRIFT", "SUSPENDED",
                                              "REVOKED"};
constexpr std::string_view kVerdicts[] = {"verified", "unverified", "rejected"};
constexpr std::string_view kTiers[] = {"standard", "enterprise"};
constexpr std::string_view kChannels[] = {"webhook"};

// Agents
constexpr FieldSchema kSkill[] = {Id("id"), Name("name"), Optional(Text("description")),
                                  Optional(Strings("tags"))};
constexpr FieldSchema kProvider[] = {Name("organization"), Url("url")};
constexpr FieldSchema kAgent[] = {Id("did"),           Name("name"),
                                  Text("description"), Name("version"),
                                  Url("url"),          Objects("skills", kSkill),
                                  Strings("tags"),     Object("provider", kProvider),
                                  Object("card")};
constexpr FieldSchema kAgentReason[] = {Id("did"), Text("reason")};
constexpr FieldSchema kAgentDid[] = {Id("did")};

// OSSA interop (seeds/federated-agent-registries-at-scale.txt, 5.4)
constexpr FieldSchema kOssaAgent[] = {Name("name"),
                                      Name("namespace"),
                                      Name("version"),
                                      Optional(Text("digest", kDataIdBytesMax)),
                                      Optional(Strings("capabilities")),
                                      Optional(Text("trustTier", kDataNameBytesMax)),
                                      Optional(Text("registryUrl", kDataUrlBytesMax))};
constexpr FieldSchema kOssa[] = {Object("agent", kOssaAgent)};

// Peers
constexpr FieldSchema kPeerAdded[] = {Id("peer_id"),
                                      Name("name"),
                                      Url("base_url"),
                                      Url("spiffe_id"),
                                      Enum("kind", kPeerKinds),
                                      Enum("relation", kRelations)};
constexpr FieldSchema kPeerUpdated[] = {Id("peer_id"), Optional(Name("name")),
                                        Optional(Url("base_url")), Optional(Url("spiffe_id"))};
constexpr std::string_view kPeerUpdatedOneOf[] = {"name", "base_url", "spiffe_id"};
constexpr FieldSchema kPeerId[] = {Id("peer_id")};
constexpr FieldSchema kPeerStatus[] = {Id("peer_id"), Enum("status", kPeerStatuses),
                                       Text("reason")};
constexpr FieldSchema kPeerSynced[] = {Id("peer_id"), Of(kCount, "cards_pulled")};
constexpr FieldSchema kPeerSyncFailed[] = {Id("peer_id"), Text("error")};
constexpr FieldSchema kPeerReason[] = {Id("peer_id"), Text("reason")};

// Federated cards
constexpr FieldSchema kSyncedCard[] = {Id("did"),           Name("name"),
                                       Text("description"), Objects("skills", kSkill),
                                       Strings("tags"),     Object("card")};
constexpr FieldSchema kCardsSynced[] = {Id("peer_id"), Id("source_registry"),
                                        Enum("relation", kRelations),
                                        Objects("cards", kSyncedCard)};
constexpr FieldSchema kCardRemoved[] = {Id("peer_id"), Id("did")};
constexpr FieldSchema kRegistryCardFetched[] = {Id("peer_id"), Text("etag", kDataIdBytesMax),
                                                Of(kAnyJson, "card"), Enum("verdict", kVerdicts),
                                                Text("reason")};

// Licenses
constexpr FieldSchema kLicenseIssued[] = {Id("license_id"),
                                          Id("peer_id"),
                                          Of(kSha256Hex, "key_sha256"),
                                          Enum("tier", kTiers),
                                          Optional(Of(kCount, "max_agents"), "100"),
                                          Optional(Of(kCount, "max_events_per_minute"), "1000")};
constexpr FieldSchema kLicenseReason[] = {Id("license_id"), Text("reason")};

// Compliance
constexpr FieldSchema kPolicyHash[] = {Id("peer_id"), Id("policy_hash")};
constexpr FieldSchema kDriftScan[] = {Id("requested_by"), Optional(Id("peer_id"))};
constexpr FieldSchema kDriftDetected[] = {Id("peer_id"), Id("local_policy_hash"),
                                          Id("peer_policy_hash"), Of(kCount, "divergent_agents"),
                                          Of(kNumber, "threshold")};

// Transfers
constexpr FieldSchema kTransferPrepared[] = {
    Id("transfer_id"), Id("from_agent"),       Id("to_agent"),      Id("from_registry"),
    Id("to_registry"), Of(kDecimal, "amount"), Of(kDecimal, "fee"), Of(kTime, "expires_at")};
constexpr FieldSchema kTransferId[] = {Id("transfer_id")};
constexpr FieldSchema kTransferReason[] = {Id("transfer_id"), Text("reason")};
constexpr FieldSchema kTokensTransferred[] = {Id("transfer_id"), Id("from_agent"), Id("to_agent"),
                                              Of(kDecimal, "amount"), Of(kDecimal, "fee")};

// Notifications
constexpr FieldSchema kNotificationRequested[] = {
    Id("notification_id"), Enum("channel", kChannels),      Url("target"),
    Text("subject"),       Text("body", kDataBodyBytesMax), Of(kCount, "caused_by")};
constexpr FieldSchema kNotificationDelivered[] = {Id("notification_id"), Of(kCount, "attempts")};
constexpr FieldSchema kNotificationFailed[] = {Id("notification_id"), Of(kCount, "attempts"),
                                               Text("error")};

// annals' own: this registry's registry card, as the operator edits it.
constexpr FieldSchema kRegistryCardEdited[] = {Name("name"),
                                               Optional(Text("description")),
                                               Optional(Object("operator")),
                                               Optional(Strings("capabilities")),
                                               Optional(Object("endpoints")),
                                               Optional(Object("fees")),
                                               Optional(Object("identity"))};

constexpr EventSchema kCatalog[] = {
    {event_types::kAgentRegistered, "agent-<did>", kAgent},
    {event_types::kAgentCardUpdated, "agent-<did>", kAgent},
    {event_types::kAgentDeprecated, "agent-<did>", kAgentReason},
    {event_types::kAgentRemoved, "agent-<did>", kAgentDid},
    {event_types::kOssaAgentPublished, "<namespace>/<name>@<version>", kOssa},
    {event_types::kOssaAgentUpdated, "<namespace>/<name>@<version>", kOssa},
    {event_types::kOssaAgentDeprecated, "<namespace>/<name>@<version>", kOssa},
    {event_types::kPeerAdded, "peer-<peer_id>", kPeerAdded},
    {event_types::kPeerUpdated, "peer-<peer_id>", kPeerUpdated, kPeerUpdatedOneOf},
    {event_types::kPeerRemoved, "peer-<peer_id>", kPeerId},
    {event_types::kPeerStatusChanged, "peer-<peer_id>", kPeerStatus},
    {event_types::kPeerSyncSucceeded, "peer-<peer_id>", kPeerSynced},
    {event_types::kPeerSyncFailed, "peer-<peer_id>", kPeerSyncFailed},
    {event_types::kAgentCardsSynced, "cards-<peer_id>", kCardsSynced},
    {event_types::kAgentCardRemoved, "cards-<peer_id>", kCardRemoved},
    {event_types::kRegistryCardFetched, "cards-<peer_id>", kRegistryCardFetched},
    {event_types::kLicenseIssued, "license-<license_id>", kLicenseIssued},
    {event_types::kLicenseSuspended, "license-<license_id>", kLicenseReason},
    {event_types::kLicenseRevoked, "license-<license_id>", kLicenseReason},
    {event_types::kLicenseReinstated, "license-<license_id>", kLicenseReason},
    {event_types::kPolicyHashPublished, "compliance-<peer_id>", kPolicyHash},
    {event_types::kDriftScanRequested, "compliance-<peer_id>", kDriftScan},
    {event_types::kDriftDetected, "compliance-<peer_id>", kDriftDetected},
    {event_types::kDriftResolved, "compliance-<peer_id>", kPeerId},
    {event_types::kQuarantineApplied, "compliance-<peer_id>", kPeerReason},
    {event_types::kQuarantineLifted, "compliance-<peer_id>", kPeerReason},
    {event_types::kTransferPrepared, "transfer-<transfer_id>", kTransferPrepared},
    {event_types::kTransferCommitted, "transfer-<transfer_id>", kTransferId},
    {event_types::kTransferRolledBack, "transfer-<transfer_id>", kTransferReason},
    {event_types::kTokensTransferred, "transfer-<transfer_id>", kTokensTransferred},
    {event_types::kNotificationRequested, "notification-<notification_id>",
     kNotificationRequested},
    {event_types::kNotificationDelivered, "notification-<notification_id>",
     kNotificationDelivered},
    {event_types::kNotificationFailed, "notification-<notification_id>", kNotificationFailed},
    {event_types::kRegistryCardEdited, "registry-card", kRegistryCardEdited},
};

// ---------------------------------------------------------------------------------------------
// The table's own invariants, checked at compile time.

// The fields of one object are tracked in a bit set while it is read.
constexpr size_t kFieldsPerObjectMax = 32;

constexpr bool IsStringKind(FieldKind kind) {
  return kind == kString || kind == kNonEmptyString || kind == kStringArray;
}

constexpr bool IsWellFormed(std::span<const FieldSchema> fields) {
  if (fields.size() > kFieldsPerObjectMax) return false;
  for (size_t i = 0; i < fields.size(); ++i) {
    const FieldSchema& f = fields[i];
    for (size_t k = 0; k < i; ++k) {
      if (fields[k].name == f.name) return false;
    }
    const bool has_subfields = f.kind == kObject || f.kind == kObjectArray;
    if (f.name.empty() || IsStringKind(f.kind) != (f.bytes_max > 0) ||
        (f.kind == kEnum) != !f.allowed.empty() || (!has_subfields && !f.fields.empty()) ||
        (f.kind == kObjectArray && f.fields.empty()) ||
        (!f.default_value.empty() && f.presence != Presence::kOptional) ||
        !IsWellFormed(f.fields)) {
      return false;
    }
  }
  return true;
}

constexpr bool IsOptionalField(std::span<const FieldSchema> fields, std::string_view name) {
  return std::any_of(fields.begin(), fields.end(), [name](const FieldSchema& f) {
    return f.name == name && f.presence == Presence::kOptional;
  });
}

constexpr bool CatalogIsWellFormed() {
  for (size_t i = 0; i < std::size(kCatalog); ++i) {
    const EventSchema& schema = kCatalog[i];
    for (size_t k = 0; k < i; ++k) {
      if (kCatalog[k].type == schema.type) return false;
    }
    if (schema.stream.empty() || !IsWellFormed(schema.fields)) return false;
    for (std::string_view name : schema.one_of) {
      if (!IsOptionalField(schema.fields, name)) return false;
    }
  }
  return true;
}

static_assert(CatalogIsWellFormed(),
              "each catalog type once; fields unique, at most kFieldsPerObjectMax per object, "
              "with the parts their kind needs; one_of names optional fields");

// ---------------------------------------------------------------------------------------------
// Checking data

namespace dom = simdjson::dom;

using Refusal = std::optional<DataError>;

// Where a value sits, from the event ("data.skills[2].name"): a chain through the caller's
// frames, rendered only when a refusal names it.
struct Path {
  const Path* parent;
  std::string_view member;  // empty: an array item, at `index`
  size_t index = 0;
};

std::string Render(const Path& path) {
  std::string text = path.parent == nullptr ? std::string() : Render(*path.parent);
  if (path.member.empty()) return text + fmt::format("[{}]", path.index);
  if (!text.empty()) text += '.';
  return text + std::string(path.member);
}

Refusal Refuse(const Path& path, std::string reason) {
  return DataError{Render(path), std::move(reason)};
}

bool IsDecimal(std::string_view text) {
  const size_t dot = text.find('.');
  const auto all_digits = [](std::string_view part) {
    return !part.empty() &&
           std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (dot == std::string_view::npos) return all_digits(text);
  return all_digits(text.substr(0, dot)) && all_digits(text.substr(dot + 1));
}

bool IsSha256Hex(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Refusal CheckLength(std::string_view text, size_t bytes_max, const Path& path) {
  if (text.size() <= bytes_max) return std::nullopt;
  return Refuse(
      path, fmt::format("is {} bytes long; at most {} bytes are allowed", text.size(), bytes_max));
}

// The checks of the string kinds, on the unescaped text.
Refusal CheckText(const FieldSchema& field, std::string_view text, const Path& path) {
  switch (field.kind) {
    case kNonEmptyString:
      if (text.empty()) return Refuse(path, "must not be empty");
      [[fallthrough]];
    case kString: return CheckLength(text, field.bytes_max, path);
    case kEnum:
      if (std::find(field.allowed.begin(), field.allowed.end(), text) != field.allowed.end()) {
        return std::nullopt;
      }
      return Refuse(path, fmt::format("must be one of: {}", fmt::join(field.allowed, ", ")));
    case kDecimal:
      if (text.size() <= kDataDecimalBytesMax && IsDecimal(text)) return std::nullopt;
      return Refuse(path, fmt::format("must be a decimal string such as \"12.50\" (digits with at "
                                      "most one '.', at most {} bytes)",
                                      kDataDecimalBytesMax));
    case kTime: {
      int64_t seconds = 0;
      int32_t nanos = 0;
      if (auto reason = ParseRfc3339(text, &seconds, &nanos)) return Refuse(path, *reason);
      return std::nullopt;
    }
    case kSha256Hex:
      if (IsSha256Hex(text)) return std::nullopt;
      return Refuse(path, "must be a SHA-256 as 64 lower-case hex digits");
    default: break;
  }
  ANNALS_UNREACHABLE();
}

// kCount and kNumber.
Refusal CheckNumber(const FieldSchema& field, dom::element value, const Path& path) {
  const bool fraction_allowed = field.kind == kNumber;
  switch (value.type()) {
    case dom::element_type::UINT64: return std::nullopt;
    case dom::element_type::INT64:
      if (value.get_int64().value_unsafe() >= 0) return std::nullopt;
      break;
    case dom::element_type::DOUBLE:
      if (fraction_allowed && value.get_double().value_unsafe() >= 0) return std::nullopt;
      break;
    default: break;
  }
  return Refuse(path, fraction_allowed ? "must be a number >= 0" : "must be an integer >= 0");
}

Refusal CheckMembers(std::span<const FieldSchema> fields, dom::object object, const Path& path);
Refusal CheckValue(const FieldSchema& field, dom::element value, const Path& path);

Refusal CheckArray(const FieldSchema& field, dom::element value, const Path& path) {
  const bool of_strings = field.kind == kStringArray;
  dom::array array;
  if (value.get_array().get(array) != simdjson::SUCCESS) {
    return Refuse(path, of_strings ? "must be an array of strings" : "must be an array of objects");
  }
  if (array.size() > kDataArrayItemsMax) {
    return Refuse(path, fmt::format("has {} items; at most {} are allowed", array.size(),
                                    kDataArrayItemsMax));
  }
  const FieldSchema item =
      of_strings ? FieldSchema{.name = field.name, .kind = kString, .bytes_max = field.bytes_max}
                 : FieldSchema{.name = field.name, .kind = kObject, .fields = field.fields};
  size_t index = 0;
  for (dom::element element : array) {
    if (auto refusal = CheckValue(item, element, Path{&path, {}, index++})) return refusal;
  }
  return std::nullopt;
}

Refusal CheckValue(const FieldSchema& field, dom::element value, const Path& path) {
  switch (field.kind) {
    case kString:
    case kNonEmptyString:
    case kEnum:
    case kDecimal:
    case kTime:
    case kSha256Hex: {
      std::string_view text;
      if (value.get_string().get(text) != simdjson::SUCCESS) {
        return Refuse(path, "must be a string");
      }
      return CheckText(field, text, path);
    }
    case kCount:
    case kNumber: return CheckNumber(field, value, path);
    case kObject: {
      dom::object object;
      if (value.get_object().get(object) != simdjson::SUCCESS) {
        return Refuse(path, "must be a JSON object");
      }
      return CheckMembers(field.fields, object, path);
    }
    case kAnyJson: return std::nullopt;
    case kStringArray:
    case kObjectArray: return CheckArray(field, value, path);
  }
  ANNALS_UNREACHABLE();
}

size_t IndexOf(std::span<const FieldSchema> fields, std::string_view name) {
  const auto it = std::find_if(fields.begin(), fields.end(),
                               [name](const FieldSchema& f) { return f.name == name; });
  return static_cast<size_t>(it - fields.begin());
}

// The members the table names, in document order (a name at most once), then the required ones
// that are missing. Members it does not name pass unread.
Refusal CheckMembers(std::span<const FieldSchema> fields, dom::object object, const Path& path) {
  ANNALS_ASSERT(fields.size() <= kFieldsPerObjectMax);
  uint32_t seen = 0;
  uint32_t present = 0;
  for (dom::key_value_pair member : object) {
    const size_t i = IndexOf(fields, member.key);
    if (i == fields.size()) continue;
    const uint32_t bit = uint32_t{1} << i;
    const Path member_path{&path, fields[i].name};
    if ((seen & bit) != 0) return Refuse(member_path, "appears more than once");
    seen |= bit;
    if (member.value.is_null()) continue;
    present |= bit;
    if (auto refusal = CheckValue(fields[i], member.value, member_path)) return refusal;
  }
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].presence == Presence::kRequired && (present & (uint32_t{1} << i)) == 0) {
      return Refuse(Path{&path, fields[i].name}, "required");
    }
  }
  return std::nullopt;
}

Refusal CheckOneOf(const EventSchema& schema, dom::object object, const Path& path) {
  if (schema.one_of.empty()) return std::nullopt;
  for (std::string_view name : schema.one_of) {
    dom::element value;
    if (object.at_key(name).get(value) == simdjson::SUCCESS && !value.is_null()) {
      return std::nullopt;
    }
  }
  return Refuse(path, fmt::format("must hold at least one of: {}", fmt::join(schema.one_of, ", ")));
}

std::unordered_map<std::string_view, const EventSchema*> IndexCatalog() {
  std::unordered_map<std::string_view, const EventSchema*> by_type;
  for (const EventSchema& schema : kCatalog) by_type.emplace(schema.type, &schema);
  return by_type;
}

}  // namespace

std::span<const EventSchema> EventCatalog() { return kCatalog; }

const EventSchema* FindEventSchema(std::string_view type) {
  static const auto by_type = IndexCatalog();
  const auto it = by_type.find(type);
  return it == by_type.end() ? nullptr : it->second;
}

bool IsCatalogType(std::string_view type) { return FindEventSchema(type) != nullptr; }

std::optional<DataError> ValidateEventData(std::string_view type, std::string_view data_json) {
  const EventSchema* schema = FindEventSchema(type);
  if (schema == nullptr) return std::nullopt;
  const Path root{nullptr, "data"};
  if (data_json.empty()) return Refuse(root, fmt::format("required for {}", type));
  // One parser per thread: its buffers grow to the largest data seen and are reused.
  thread_local dom::parser parser;
  dom::element data;
  if (auto error = parser.parse(data_json.data(), data_json.size()).get(data)) {
    return Refuse(root, fmt::format("is not valid JSON: {}", simdjson::error_message(error)));
  }
  dom::object object;
  if (data.get_object().get(object) != simdjson::SUCCESS) {
    return Refuse(root, fmt::format("must be a JSON object for {}", type));
  }
  if (auto refusal = CheckMembers(schema->fields, object, root)) return refusal;
  return CheckOneOf(*schema, object, root);
}

}  // namespace annals::schemas
