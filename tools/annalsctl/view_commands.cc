// annalsctl's view commands: views, rebuild, check, and the queries (discover, agent, peers, peer,
// cards, registry-card, compliance), which print the JSON the gateway serves.
//
// The views live in <data>/views. When no server holds that database, a command opens it for
// writing and (queries, check) first folds every view up to the ledger's head; when a server
// holds it, queries open it read-only and print what the server has folded.
#include <cstdio>
#include <filesystem>

#include "annals/base/json_writer.h"
#include "annals/projections/agents.h"
#include "annals/projections/card_cache.h"
#include "annals/projections/compliance.h"
#include "annals/projections/peers.h"
#include "annals/projections/registry_views.h"
#include "cli_support.h"
#include "commands.h"
#include "progress.h"

namespace annals::tools {

namespace es = annals::eventstore;
namespace pj = annals::projections;

namespace {

// A catch-up shorter than this many events draws no progress (queries stay quiet).
constexpr uint64_t kQuietCatchUpEventsMax = 100000;

// The ledger (read-only: views never write it), the views database and the runner.
struct Views {
  std::unique_ptr<es::Ledger> ledger;
  std::unique_ptr<pj::ViewsDb> db;
  std::unique_ptr<pj::Runner> runner;
};

Result<Views> OpenViews(const GlobalOptions& global) {
  Views views;
  ANNALS_ASSIGN_OR_RETURN(views.ledger, OpenLedger(global, true));
  pj::ViewsDbOptions options;
  options.path = ViewsPath(global);
  auto db = pj::ViewsDb::Open(options);
  if (!db.ok() && std::filesystem::exists(options.path + "/CURRENT")) {
    // Held by a server: serve what it has folded.
    options.read_only = true;
    db = pj::ViewsDb::Open(options);
  }
  if (!db.ok()) return db.status();
  views.db = std::move(db).value();
  pj::RunnerOptions runner_options;
  runner_options.ledger = views.ledger.get();
  runner_options.db = views.db.get();
  ANNALS_ASSIGN_OR_RETURN(views.runner, pj::Runner::Open(runner_options, pj::RegistryViews()));
  return views;
}

// Folds every view to the head unless the database is a server's (read-only here).
Status CatchUp(Views& views) {
  if (views.db->read_only()) return Status::Ok();
  uint64_t behind = 0;
  for (const auto& status : views.runner->Statuses()) behind = std::max(behind, status.lag);
  if (behind <= kQuietCatchUpEventsMax) return views.runner->CatchUp("", 0);
  Progress progress("views catching up");
  return views.runner->CatchUp("", 0, [&](uint64_t done, uint64_t total) {
    progress.Update(done, total);
  });
}

// Opens the views, catches them up when `catch_up`, and runs `body`.
int WithViews(const GlobalOptions& global, bool catch_up, const std::function<int(Views&)>& body) {
  auto views = OpenViews(global);
  if (!views.ok()) return ExitFor(views.status());
  if (catch_up) {
    Status s = CatchUp(*views);
    if (!s.ok()) return ExitFor(s.WithContext("bringing the views up to the head"));
  }
  return body(*views);
}

// Prints a query's JSON: a missing id is a refusal (exit 1), any other error exit 2.
int PrintQuery(const Result<std::string>& json) {
  if (json.ok()) {
    PrintLine(*json);
    return kExitOk;
  }
  if (json.status().code() == StatusCode::kNotFound ||
      json.status().code() == StatusCode::kInvalidArgument) {
    PrintError(json.status().ToString());
    return kExitRefused;
  }
  return ExitFor(json.status());
}

// Runs `query` on a snapshot of one view.
int QueryView(const GlobalOptions& global, std::string_view view,
              const std::function<Result<std::string>(const pj::ViewReader&)>& query) {
  return WithViews(global, true, [&](Views& views) {
    auto reader = views.runner->Reader(view);
    if (!reader.ok()) return ExitFor(reader.status());
    return PrintQuery(query(*reader));
  });
}

// The names of the views a command acts on: one, or all of them with --all.
Result<std::vector<std::string>> SelectViews(const Views& views, const std::string& view, bool all) {
  if (all == !view.empty()) return Status::InvalidArgument("name one view, or give --all");
  if (all) return views.runner->names();
  for (const auto& name : views.runner->names()) {
    if (name == view) return std::vector<std::string>{view};
  }
  return Status::InvalidArgument("no view named " + view + " (annalsctl views lists them)");
}

// A view key as printable text: bytes outside printable ASCII as \xNN.
std::string PrintableKey(std::string_view key) {
  std::string out;
  for (char c : key) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out.push_back(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out.append(buf);
    }
  }
  return out;
}

void OptionalMember(JsonWriter& w, std::string_view key, const std::optional<std::string>& value) {
  w.Key(key);
  if (value) {
    w.String(*value);
  } else {
    w.Null();
  }
}

}  // namespace

int RunViews(const GlobalOptions& global) {
  return WithViews(global, false, [&](Views& views) {
    for (const auto& status : views.runner->Statuses()) {
      JsonWriter w;
      w.BeginObject()
          .Member("name", status.name)
          .Member("version", uint64_t{status.version})
          .Member("generation", uint64_t{status.generation})
          .Member("position", status.position)
          .Member("lag", status.lag)
          .Member("state", status.state);
      if (!status.error.empty()) w.Member("error", status.error);
      w.EndObject();
      PrintLine(w.str());
    }
    return kExitOk;
  });
}

int RunRebuild(const GlobalOptions& global, const RebuildArgs& args) {
  return WithViews(global, false, [&](Views& views) {
    if (views.db->read_only()) {
      PrintError("the views are held by a running server; stop it to rebuild from annalsctl");
      return kExitError;
    }
    auto names = SelectViews(views, args.view, args.all);
    if (!names.ok()) return ExitFor(names.status());
    // Without --to, up to the head: with no server folding, the live view may be behind it.
    const uint64_t to = args.to.value_or(views.ledger->GetHead().position);
    for (const auto& name : *names) {
      Progress progress("rebuild " + name);
      auto report = views.runner->Rebuild(name, to, [&](uint64_t done, uint64_t total) {
        progress.Update(done, total);
      });
      if (!report.ok()) return ExitFor(report.status().WithContext("rebuilding " + name));
      progress.Finish(report->position, report->position);
      JsonWriter w;
      double rate = report->seconds > 0 ? static_cast<double>(report->events) / report->seconds : 0;
      w.BeginObject()
          .Member("view", name)
          .Member("position", report->position)
          .Member("events", report->events)
          .Key("seconds").Double(report->seconds)
          .Key("events_per_second").Double(rate)
          .EndObject();
      PrintLine(w.str());
    }
    return kExitOk;
  });
}

int RunCheck(const GlobalOptions& global, const CheckArgs& args) {
  return WithViews(global, true, [&](Views& views) {
    if (views.db->read_only()) {
      PrintError("the views are held by a running server; stop it to check from annalsctl");
      return kExitError;
    }
    auto names = SelectViews(views, args.view, args.all);
    if (!names.ok()) return ExitFor(names.status());
    int code = kExitOk;
    for (const auto& name : *names) {
      Progress progress("check " + name);
      auto report = views.runner->Check(name, [&](uint64_t done, uint64_t total) {
        progress.Update(done, total);
      });
      if (!report.ok()) return ExitFor(report.status().WithContext("checking " + name));
      progress.Finish(report->position, report->position);
      JsonWriter w;
      w.BeginObject()
          .Member("view", name)
          .Member("result", report->differences == 0 ? "same" : "different")
          .Member("position", report->position)
          .Member("rows_compared", report->rows_compared)
          .Member("differences", report->differences)
          .Key("first_differences")
          .BeginArray();
      for (const auto& d : report->first_differences) {
        w.BeginObject().Member("key", PrintableKey(d.key));
        OptionalMember(w, "live", d.live);
        OptionalMember(w, "rebuilt", d.rebuilt);
        w.EndObject();
      }
      w.EndArray().EndObject();
      PrintLine(w.str());
      if (report->differences != 0) {
        PrintError("view " + name + " differs from a fresh rebuild in " +
                   std::to_string(report->differences) + " rows");
        code = kExitRefused;
      }
    }
    return code;
  });
}

int RunDiscover(const GlobalOptions& global, const DiscoverArgs& args) {
  return WithViews(global, true, [&](Views& views) {
    auto live = views.runner->Live(pj::kAgentsView);
    if (!live.ok()) return ExitFor(live.status());
    auto& agents = dynamic_cast<const pj::AgentsView&>(**live);
    return PrintQuery(agents.DiscoverJson(args.text, args.limit.value_or(pj::kDiscoverLimitDefault),
                                          args.cursor));
  });
}

int RunAgent(const GlobalOptions& global, const std::string& did) {
  return WithViews(global, true, [&](Views& views) {
    auto live = views.runner->Live(pj::kAgentsView);
    if (!live.ok()) return ExitFor(live.status());
    auto& agents = dynamic_cast<const pj::AgentsView&>(**live);
    return PrintQuery(agents.AgentJson(did));
  });
}

int RunPeers(const GlobalOptions& global) {
  return QueryView(global, pj::kPeersView, [](const pj::ViewReader& r) { return pj::PeersJson(r); });
}

int RunPeer(const GlobalOptions& global, const std::string& peer_id) {
  return QueryView(global, pj::kPeersView,
                   [&](const pj::ViewReader& r) { return pj::PeerJson(r, peer_id); });
}

int RunCards(const GlobalOptions& global, const CardsArgs& args) {
  return QueryView(global, pj::kCardCacheView, [&](const pj::ViewReader& r) {
    return pj::CardsSinceJson(r, args.since, args.limit.value_or(pj::kCardFeedLimitDefault));
  });
}

int RunRegistryCard(const GlobalOptions& global, const std::string& peer_id) {
  return QueryView(global, pj::kCardCacheView, [&](const pj::ViewReader& r) {
    return peer_id.empty() ? pj::OwnRegistryCardJson(r) : pj::PeerRegistryCardJson(r, peer_id);
  });
}

int RunCompliance(const GlobalOptions& global, const std::string& peer_id) {
  return QueryView(global, pj::kComplianceView, [&](const pj::ViewReader& r) {
    return peer_id.empty() ? pj::CompliancePeersJson(r) : pj::CompliancePeerJson(r, peer_id);
  });
}

}  // namespace annals::tools
