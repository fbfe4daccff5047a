// annalsctl's ledger commands: append, import, read, export, verify, stats.
#include <simdjson.h>

#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>

#include "annals/base/coding.h"
#include "annals/base/json_writer.h"
#include "annals/eventstore/ledger.h"
#include "annals/eventstore/limits.h"
#include "annals/eventstore/record_json.h"
#include "cli_support.h"
#include "commands.h"
#include "progress.h"

namespace annals::tools {

namespace es = annals::eventstore;

namespace {

// Events in flight during an import: enough to fill several group commits.
constexpr size_t kImportWindowEventsMax = 8192;
// One import line, at most (a largest event as JSON, with room for escaping).
constexpr size_t kImportLineBytesMax = 2 * es::kEventBytesMax;

// The JSON line for one outcome: {"result":..., "id":..., ...}.
std::string OutcomeJson(const es::AppendOutcome& o, std::string_view id,
                        std::optional<size_t> line = std::nullopt) {
  JsonWriter w;
  w.BeginObject().Member("result", es::AppendCodeName(o.code));
  if (line) w.Member("line", uint64_t{*line});
  w.Member("id", id);
  switch (o.code) {
    case es::AppendCode::kAppended:
    case es::AppendCode::kDuplicate:
      w.Member("position", o.position);
      if (!o.stream.empty()) w.Member("stream", o.stream).Member("revision", o.revision);
      w.Member("hash", ToHex(o.hash));
      break;
    case es::AppendCode::kKeyReuse:
      w.Member("position", o.position).Member("error", o.error.reason);
      break;
    case es::AppendCode::kWrongRevision:
      if (o.actual_revision) {
        w.Member("actual_revision", *o.actual_revision);
      } else {
        w.Key("actual_revision").Null();
      }
      w.Member("error", o.error.reason);
      break;
    default:
      w.Member("attribute", o.error.attribute).Member("error", o.error.reason);
  }
  w.EndObject();
  return w.Release();
}

std::string InvalidLineJson(size_t line, const es::InvalidAttribute& error) {
  JsonWriter w;
  w.BeginObject()
      .Member("result", "invalid")
      .Member("line", uint64_t{line})
      .Member("attribute", error.attribute)
      .Member("error", error.attribute + ": " + error.reason)
      .EndObject();
  return w.Release();
}

Result<es::ExpectedRevision> ParseExpected(const std::string& text) {
  if (text.empty()) return es::ExpectedRevision::Any();
  if (auto expected = es::ParseExpectedRevision(text)) return *expected;
  return Status::InvalidArgument("--expected-revision is any, no_stream, exists or a revision "
                                 "number, not '" + text + "'");
}

bool IsValidJson(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  return parser.parse(text).get(element) == simdjson::SUCCESS;
}

// The structured-mode JSON of the event `append` describes; parsed back through the one parser
// every input goes through, so the CLI validates exactly as import and HTTP do.
std::string AppendArgsJson(const AppendArgs& args) {
  JsonWriter w;
  w.BeginObject().Member("specversion", "1.0").Member("type", args.type);
  w.Member("source", args.source).Member("id", args.id);
  if (!args.subject.empty()) w.Member("subject", args.subject);
  if (!args.data.empty()) w.Member("datacontenttype", "application/json").Key("data").Raw(args.data);
  w.EndObject();
  return w.Release();
}

int ExitFor(const es::AppendOutcome& o) { return o.recorded() ? kExitOk : kExitRefused; }

}  // namespace

int RunAppend(const GlobalOptions& global, const AppendArgs& args) {
  auto expected = ParseExpected(args.expected_revision);
  if (!expected.ok()) {
    PrintError(expected.status().message());
    return kExitError;
  }
  if (!args.data.empty() && !IsValidJson(args.data)) {
    PrintLine(OutcomeJson(es::AppendOutcome{.code = es::AppendCode::kInvalidEvent,
                                            .error = {"data", "--data is not valid JSON"}},
                          args.id));
    return kExitRefused;
  }
  auto parsed = es::ParseCloudEventJson(AppendArgsJson(args));
  if (!parsed.parsed) {
    PrintLine(OutcomeJson(es::AppendOutcome{.code = es::AppendCode::kInvalidEvent,
                                            .error = parsed.error},
                          args.id));
    return kExitRefused;
  }
  return WithLedger(global, false, [&](es::Ledger& ledger) {
    es::ProposedEvent proposed;
    proposed.event = std::move(parsed.parsed->event);
    proposed.stream = args.stream;
    proposed.idempotency_key = args.idempotency_key;
    proposed.expected = *expected;
    const es::AppendOutcome outcome = ledger.Append(std::move(proposed));
    PrintLine(OutcomeJson(outcome, args.id));
    return ExitFor(outcome);
  });
}

namespace {

// Prints import results in input order as they become durable.
class OrderedPrinter {
 public:
  // Reserves the slot of the next line; blocks while kImportWindowEventsMax are in flight.
  size_t Reserve() {
    std::unique_lock lock(mu_);
    room_.wait(lock, [&] { return slots_.size() < kImportWindowEventsMax; });
    slots_.emplace_back();
    return first_ + slots_.size() - 1;
  }
  void Fill(size_t slot, std::string line, bool refused) {
    std::lock_guard lock(mu_);
    slots_[slot - first_] = std::move(line);
    refused_ |= refused;
    while (!slots_.empty() && slots_.front().has_value()) {
      PrintLine(*slots_.front());
      slots_.pop_front();
      ++first_;
    }
    room_.notify_all();
  }
  void Drain() {
    std::unique_lock lock(mu_);
    room_.wait(lock, [&] { return slots_.empty(); });
  }
  bool refused() const { return refused_; }

 private:
  std::mutex mu_;
  std::condition_variable room_;
  std::deque<std::optional<std::string>> slots_;
  size_t first_ = 0;
  bool refused_ = false;
};

}  // namespace

int RunImport(const GlobalOptions& global, const std::string& file) {
  std::ifstream in_file;
  std::istream* in = &std::cin;
  if (file != "-") {
    in_file.open(file);
    if (!in_file) {
      PrintError("cannot open " + file);
      return kExitError;
    }
    in = &in_file;
  }
  auto ledger = OpenLedger(global, false);
  if (!ledger.ok()) {
    PrintError(ledger.status().ToString());
    return kExitError;
  }
  OrderedPrinter printer;
  std::string text;
  size_t line_number = 0;
  while (std::getline(*in, text)) {
    ++line_number;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank line
    const size_t slot = printer.Reserve();
    if (text.size() > kImportLineBytesMax) {
      printer.Fill(slot, InvalidLineJson(line_number, {"json", "line longer than " +
                                                       std::to_string(kImportLineBytesMax) + " bytes"}),
                   true);
      continue;
    }
    auto parsed = es::ParseCloudEventJson(text);
    if (!parsed.parsed) {
      printer.Fill(slot, InvalidLineJson(line_number, parsed.error), true);
      continue;
    }
    es::ProposedEvent proposed;
    std::string id = parsed.parsed->event.id();
    proposed.event = std::move(parsed.parsed->event);
    proposed.stream = std::move(parsed.parsed->stream);
    proposed.idempotency_key = std::move(parsed.parsed->idempotency_key);
    proposed.origin = std::move(parsed.parsed->origin);
    std::vector<es::ProposedEvent> one;
    one.push_back(std::move(proposed));
    (*ledger)->Submit(std::move(one), [&printer, slot, line_number,
                                       id = std::move(id)](std::vector<es::AppendOutcome> out) {
      printer.Fill(slot, OutcomeJson(out[0], id, line_number), !out[0].recorded());
    });
  }
  printer.Drain();
  (*ledger)->Close();
  std::fflush(stdout);
  if (in->bad()) {
    PrintError("reading " + file + " failed");
    return kExitError;
  }
  return printer.refused() ? kExitRefused : kExitOk;
}

namespace {

// Pages through ReadAll, calling `emit` for each record, up to `limit` records.
Status ForEachRecord(const es::Ledger& ledger, es::ReadAllOptions options,
                     std::optional<uint64_t> limit,
                     const std::function<void(const es::Record&)>& emit) {
  uint64_t left = limit.value_or(UINT64_MAX);
  while (left > 0) {
    options.limit = static_cast<size_t>(std::min<uint64_t>(left, es::kReadPageEventsMax));
    ANNALS_ASSIGN_OR_RETURN(es::ReadPage page, ledger.ReadAll(options));
    for (const es::Record& r : page.records) emit(r);
    left -= std::min<uint64_t>(left, page.records.size());
    if (page.end || page.records.empty()) break;
    options.from_position = page.next;
  }
  return Status::Ok();
}

}  // namespace

int RunRead(const GlobalOptions& global, const ReadArgs& args) {
  return WithLedger(global, true, [&](es::Ledger& ledger) {
    es::ReadAllOptions options;
    options.from_position = args.from;
    options.stream = args.stream;
    options.type = args.type;
    return ExitFor(ForEachRecord(ledger, options, args.limit, [](const es::Record& r) {
      PrintLine(es::RecordToJson(r));
    }));
  });
}

int RunExport(const GlobalOptions& global) {
  return WithLedger(global, true, [&](es::Ledger& ledger) {
    const std::string local = ledger.registry_name();
    return ExitFor(ForEachRecord(ledger, {}, std::nullopt, [&](const es::Record& r) {
      PrintLine(es::RecordToExportJson(r, local));
    }));
  });
}

namespace {

void PrintVerifyReport(const es::VerifyReport& report, const es::Head& head) {
  JsonWriter w;
  w.BeginObject();
  if (report.intact) {
    w.Member("result", "intact").Member("records", report.records_checked);
    w.Member("head_hash", ToHex(head.hash));
  } else {
    w.Member("result", "corrupt").Member("position", report.first_bad_position);
    w.Member("problem", report.problem).Member("records_checked", report.records_checked);
  }
  w.EndObject();
  PrintLine(w.str());
  if (!report.intact) {
    PrintError("the ledger is corrupt at position " + std::to_string(report.first_bad_position) +
               ": " + report.problem);
  }
}

}  // namespace

int RunVerify(const GlobalOptions& global) {
  return WithLedger(global, true, [&](es::Ledger& ledger) {
    Progress progress("verify");
    auto report = ledger.Verify([&](uint64_t done, uint64_t total) { progress.Update(done, total); });
    if (!report.ok()) return ExitFor(report.status());
    progress.Finish(report->records_checked, ledger.GetHead().position);
    PrintVerifyReport(*report, ledger.GetHead());
    return report->intact ? kExitOk : kExitRefused;
  });
}

int RunStats(const GlobalOptions& global) {
  return WithLedger(global, true, [&](es::Ledger& ledger) {
    auto stats = ledger.Stats();
    if (!stats.ok()) return ExitFor(stats.status());
    JsonWriter w;
    w.BeginObject()
        .Member("registry", stats->registry_name)
        .Member("events", stats->events)
        .Member("head_position", stats->head.position)
        .Member("head_hash", ToHex(stats->head.hash))
        .Member("size_bytes", stats->size_bytes)
        .Member("background_jobs", stats->background_jobs)
        .Member("pending_compaction_bytes", stats->pending_compaction_bytes)
        .Member("indexed_position", stats->indexed_position)
        .EndObject();
    PrintLine(w.str());
    return kExitOk;
  });
}

}  // namespace annals::tools
