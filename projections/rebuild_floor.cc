// The floor of an agents rebuild (rebuild_floor.h): each step timed in a pass of its own over
// the same events, held in memory, so that no step pays for another.
#include "annals/projections/rebuild_floor.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "annals/eventstore/record.h"
#include "annals/eventstore/rocks_status.h"
#include "annals/projections/limits.h"
#include "annals/schemas/event_types.h"
#include "internal/event_data.h"
#include "internal/text_index.h"
#include "internal/views_options.h"

namespace annals::projections {
namespace {

namespace dom = simdjson::dom;
using Clock = std::chrono::steady_clock;

// Whether `part` lies inside `whole` (std::less orders unrelated pointers too).
bool Within(std::string_view part, std::string_view whole) {
  return !std::less<const char*>()(part.data(), whole.data()) &&
         std::less<const char*>()(part.data(), whole.data() + whole.size());
}

double MicrosEach(Clock::time_point start, uint64_t events) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() /
         static_cast<double>(events);
}

// Visits the text Discover searches in an agent event's data.
template <typename Visit>
void ForEachSearchedText(const dom::object& data, Visit&& visit) {
  visit(internal::StringField(data, "name"));
  visit(internal::StringField(data, "description"));
  auto strings = [&](const std::optional<dom::array>& array) {
    if (!array) return;
    for (dom::element element : *array) {
      std::string_view text;
      if (element.get_string().get(text) == simdjson::SUCCESS) visit(text);
    }
  };
  if (auto skills = internal::ArrayField(data, "skills")) {
    for (dom::element element : *skills) {
      dom::object skill;
      if (element.get_object().get(skill) != simdjson::SUCCESS) continue;
      visit(internal::StringField(skill, "name"));
      strings(internal::ArrayField(skill, "tags"));
    }
  }
  strings(internal::ArrayField(data, "tags"));
}

}  // namespace

Result<RebuildFloor> MeasureRebuildFloor(const eventstore::Ledger& ledger,
                                         const std::string& scratch_dir, uint64_t events_max) {
  // The data of the agent events, copied out of their records (not timed).
  std::vector<std::string> data;
  eventstore::Record record;
  Status inner;
  ANNALS_RETURN_IF_ERROR(ledger.Scan(1, [&](uint64_t position, std::string_view stored) {
    const auto type = eventstore::PeekEventType(stored);
    if (type != schemas::event_types::kAgentRegistered &&
        type != schemas::event_types::kAgentCardUpdated) {
      return true;
    }
    inner = eventstore::DecodeRecordAt(position, stored, &record);
    if (!inner.ok()) return false;
    data.push_back(record.event().text_data());
    return data.size() < events_max;
  }));
  ANNALS_RETURN_IF_ERROR(inner);
  if (data.empty()) return Status::FailedPrecondition("the ledger holds no agent events");
  RebuildFloor floor;
  floor.events = data.size();
  dom::parser parser;

  // parse
  auto start = Clock::now();
  size_t objects = 0;
  for (const std::string& d : data) {
    dom::element element;
    if (parser.parse(d).get(element) != simdjson::SUCCESS) {
      return Status::Corruption("an agent event's data does not parse");
    }
    objects += element.is_object();
  }
  floor.parse_us = MicrosEach(start, floor.events);
  if (objects != data.size()) return Status::Corruption("an agent event's data is not an object");

  // tokenize: timed with a parse of its own, less the parse step's time (the parsed documents
  // of every event would not fit in memory together). Tokens are views, into the data or into
  // one buffer per event for the lower-cased ones; each event's distinct tokens and its did are
  // kept (as strings, untimed) for the index and row steps.
  std::vector<std::string> dids(data.size());
  std::vector<std::vector<internal::TermWeight>> terms(data.size());
  std::vector<std::string_view> tokens;
  std::string lowered;
  double untimed_us = 0;
  start = Clock::now();
  for (size_t i = 0; i < data.size(); ++i) {
    dom::object object;
    if (parser.parse(data[i]).get_object().get(object) != simdjson::SUCCESS) {
      return Status::Corruption("an agent event's data is not an object");
    }
    tokens.clear();
    lowered.clear();
    lowered.reserve(data[i].size());  // never outgrown: views into it stay valid
    ForEachSearchedText(object, [&](std::string_view text) {
      internal::Tokenize(text, [&](std::string_view token) {
        if (Within(token, text)) {
          tokens.push_back(token);  // a view into the parsed text: it lives with the document
        } else {
          size_t at = lowered.size();
          lowered.append(token);
          tokens.push_back(std::string_view(lowered).substr(at, token.size()));
        }
      });
    });
    std::sort(tokens.begin(), tokens.end());
    tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
    const auto keep = Clock::now();
    terms[i].reserve(tokens.size());
    for (std::string_view token : tokens) terms[i].push_back({std::string(token), 1});
    dids[i] = internal::StringField(object, "did");
    untimed_us += std::chrono::duration<double, std::micro>(Clock::now() - keep).count();
  }
  floor.tokenize_us = std::max(
      0.0, MicrosEach(start, floor.events) - untimed_us / static_cast<double>(floor.events) -
               floor.parse_us);

  // index
  internal::TextIndex index;
  start = Clock::now();
  for (size_t i = 0; i < data.size(); ++i) index.Upsert(dids[i], false, terms[i]);
  floor.index_us = MicrosEach(start, floor.events);
  terms.clear();

  // row
  struct Scratch {  // removed however the step ends, after the database below is closed
    const std::string& dir;
    ~Scratch() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } scratch{scratch_dir};
  std::error_code ec;
  std::filesystem::remove_all(scratch_dir, ec);
  rocksdb::DB* raw = nullptr;
  rocksdb::Options options = internal::ViewsRocksOptions(8 << 20);
  options.avoid_flush_during_shutdown = true;  // the rows are dropped anyway
  ANNALS_RETURN_IF_ERROR(eventstore::FromRocks(rocksdb::DB::Open(options, scratch_dir, &raw),
                                               "opening the floor's rows"));
  std::unique_ptr<rocksdb::DB> db(raw);
  const rocksdb::WriteOptions write_options = internal::ViewsWriteOptions();
  start = Clock::now();
  for (size_t from = 0; from < data.size(); from += kFoldBatchEventsMax) {
    rocksdb::WriteBatch batch;
    for (size_t i = from; i < std::min(data.size(), from + kFoldBatchEventsMax); ++i) {
      batch.Put("a/" + dids[i], data[i]);
    }
    ANNALS_RETURN_IF_ERROR(eventstore::FromRocks(db->Write(write_options, &batch), "writing rows"));
  }
  floor.row_us = MicrosEach(start, floor.events);
  return floor;
}

}  // namespace annals::projections
