// Goal: the Ledger keeps the append contract of DESIGN.md: gapless positions from 1, stream
// revisions, permanent dedup that tells a retry from a key reuse, the four expected-revision
// checks, atomic batches, refusals that write nothing, reads bounded by the durable head, a tail
// that wakes on commit, and all of it surviving a reopen, in both sync modes; appends one at a
// time on an idle ledger wake none of its threads.
#include "annals/eventstore/ledger.h"

#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "annals/base/coding.h"
#include "annals/eventstore/limits.h"
#include "annals/testing/test_util.h"
#include "internal/keys.h"

namespace annals::eventstore {
namespace {

using testing::MakeEvent;
using testing::Propose;
using testing::TempDir;

std::unique_ptr<Ledger> OpenLedger(const std::string& path,
                                   LedgerOptions::SyncMode mode = LedgerOptions::SyncMode::kPipelined) {
  LedgerOptions options;
  options.path = path;
  options.sync_mode = mode;
  auto ledger = Ledger::Open(options);
  REQUIRE_MESSAGE(ledger.ok(), ledger.status().ToString());
  return std::move(ledger).value();
}

AppendOutcome AppendOne(Ledger& ledger, std::string_view id, std::string_view stream = "",
                        ExpectedRevision expected = {}, std::string_view data = "{}") {
  return ledger.Append(Propose(MakeEvent("t.v1", "/src", id, data), stream, "", expected));
}

size_t CountAll(Ledger& ledger) {
  auto page = ledger.ReadAll({.from_position = 1, .limit = kReadPageEventsMax});
  REQUIRE(page.ok());
  return page->records.size();
}

TEST_CASE("positions, revisions and the hash chain") {
  for (auto mode : {LedgerOptions::SyncMode::kPipelined, LedgerOptions::SyncMode::kInline}) {
    TempDir dir;
    auto ledger = OpenLedger(dir.path(), mode);
    CHECK(ledger->GetHead().position == 0);
    CHECK(ledger->GetHead().hash == GenesisHash());
    auto a = AppendOne(*ledger, "a", "s1");
    auto b = AppendOne(*ledger, "b", "s2");
    auto c = AppendOne(*ledger, "c", "s1");
    auto d = AppendOne(*ledger, "d");  // no stream
    REQUIRE(a.code == AppendCode::kAppended);
    CHECK(a.position == 1);
    CHECK(b.position == 2);
    CHECK(c.position == 3);
    CHECK(d.position == 4);
    CHECK(a.revision == 0);
    CHECK(b.revision == 0);
    CHECK(c.revision == 1);
    CHECK(d.stream.empty());
    CHECK(ledger->GetHead().position == 4);
    CHECK(ledger->GetHead().hash == d.hash);
    auto r3 = ledger->ReadAt(3);
    REQUIRE(r3.ok());
    CHECK(r3->stream() == "s1");
    CHECK(r3->revision() == 1);
    CHECK(r3->prev_hash() == b.hash);
    CHECK(r3->hash() == c.hash);
    CHECK(r3->idempotency_key() == "/src c");
    CHECK(r3->origin() == "local");
    CHECK(r3->event().id() == "c");
    auto report = ledger->Verify({});
    REQUIRE(report.ok());
    CHECK(report->intact);
    CHECK(report->records_checked == 4);
    CHECK(ledger->ReadAt(5).status().code() == StatusCode::kNotFound);
    CHECK(ledger->ReadAt(0).status().code() == StatusCode::kNotFound);
  }
}

TEST_CASE("the subject names the stream unless one is given") {
  TempDir dir;
  auto ledger = OpenLedger(dir.path());
  auto a = ledger->Append(Propose(MakeEvent("t.v1", "/src", "a", "{}", "agent-1")));
  auto b = ledger->Append(Propose(MakeEvent("t.v1", "/src", "b", "{}", "agent-1"), "other"));
  CHECK(a.stream == "agent-1");
  CHECK(b.stream == "other");
}

TEST_CASE("dedup: retry, key reuse, explicit keys, and forever") {
  TempDir dir;
  {
    auto ledger = OpenLedger(dir.path());
    auto first = AppendOne(*ledger, "a", "s");
    auto retry = AppendOne(*ledger, "a", "s");
    CHECK(retry.code == AppendCode::kDuplicate);
    CHECK(retry.position == first.position);
    CHECK(retry.hash == first.hash);
    CHECK(retry.stream == "s");
    auto reuse = AppendOne(*ledger, "a", "s", {}, "{\"other\":1}");
    CHECK(reuse.code == AppendCode::kKeyReuse);
    CHECK(reuse.position == first.position);
    CHECK(reuse.error.attribute == "idempotency_key");
    // An explicit key dedups events whose ids differ.
    auto k1 = ledger->Append(Propose(MakeEvent("t.v1", "/src", "x1"), "", "key-1"));
    auto k2 = ledger->Append(Propose(MakeEvent("t.v1", "/src", "x1"), "", "key-1"));
    CHECK(k1.code == AppendCode::kAppended);
    CHECK(k2.code == AppendCode::kDuplicate);
    CHECK(CountAll(*ledger) == 2);
  }
  auto reopened = OpenLedger(dir.path());
  CHECK(AppendOne(*reopened, "a", "s").code == AppendCode::kDuplicate);
  CHECK(AppendOne(*reopened, "a", "s", {}, "[1]").code == AppendCode::kKeyReuse);
  auto next = AppendOne(*reopened, "b", "s");
  CHECK(next.position == 3);
  CHECK(next.revision == 1);  // the stream's revision survives the reopen
  CHECK(CountAll(*reopened) == 3);
}

// The key filter (docs/decisions.md) answers "certainly new" without RocksDB once built. Lowered
// to 64 keys, it is outgrown and rebuilt several times while batches land; every earlier key
// must still be found, before and after each rebuild and across a reopen, from RocksDB's files
// as well as its memtables.
TEST_CASE("dedup through the key filter's builds, growth and a reopen") {
  TempDir dir;
  LedgerOptions options;
  options.path = dir.path();
  options.key_filter_keys_min = 64;
  // Until a filter sized for every event so far is in use: a build that missed keys is never
  // used, so a scan that sees only part of the dedup index would stop here.
  uint64_t probes = 0;
  auto wait_covering = [&](Ledger& ledger) {
    for (int i = 0; i < 2000; ++i) {
      auto stats = ledger.Stats();
      REQUIRE(stats.ok());
      if (stats->key_filter_capacity >= stats->events && stats->key_filter_capacity > 0) return;
      // The writer takes a finished build between groups: an append lets it look.
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      (void)ledger.Append(Propose(MakeEvent("t.v1", "/probe", std::to_string(probes++))));
    }
    FAIL("no key filter covering the ledger was ever in use");
  };
  auto batch_of = [](uint64_t first, uint64_t count) {
    std::vector<ProposedEvent> batch;
    for (uint64_t i = first; i < first + count; ++i) {
      batch.push_back(Propose(MakeEvent("t.v1", "/src", "e" + std::to_string(i)), "s"));
    }
    return batch;
  };
  auto expect_all = [&](Ledger& ledger, uint64_t count, AppendCode code) {
    for (uint64_t first = 0; first < count; first += 100) {
      for (const auto& o : ledger.AppendBatch(batch_of(first, 100))) {
        INFO("batch from e", first, ", position ", o.position);
        REQUIRE(o.code == code);
      }
    }
  };
  {
    auto ledger = Ledger::Open(options);
    REQUIRE(ledger.ok());
    wait_covering(**ledger);
    expect_all(**ledger, 2000, AppendCode::kAppended);  // outgrows 64, 128, ... keys
    expect_all(**ledger, 2000, AppendCode::kDuplicate);
    wait_covering(**ledger);
    auto stats = (*ledger)->Stats();
    REQUIRE(stats.ok());
    CHECK(stats->key_filter_bytes >= stats->events * kKeyFilterBitsPerKey / 8);
    expect_all(**ledger, 2000, AppendCode::kDuplicate);
  }
  auto reopened = Ledger::Open(options);
  REQUIRE(reopened.ok());
  // Before the build of this open is done (RocksDB answers), and after (the filter does).
  expect_all(**reopened, 2000, AppendCode::kDuplicate);
  wait_covering(**reopened);
  expect_all(**reopened, 2000, AppendCode::kDuplicate);
  auto reuse = (*reopened)->Append(Propose(MakeEvent("t.v1", "/src", "e7", "[7]"), "s"));
  CHECK(reuse.code == AppendCode::kKeyReuse);
  auto fresh = (*reopened)->AppendBatch(batch_of(2000, 100));
  for (const auto& o : fresh) CHECK(o.code == AppendCode::kAppended);
}

// Opens the closed ledger at `path` as a plain RocksDB database (its five families, by
// ledger_format.md) and applies `batch_of(db, handles)`.
template <typename BatchOf>
void RewriteRaw(const std::string& path, BatchOf&& batch_of) {
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : {rocksdb::kDefaultColumnFamilyName.c_str(), internal::kRecordsFamily,
                           internal::kIdemFamily, internal::kStreamsFamily, internal::kTypesFamily}) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  REQUIRE(rocksdb::DB::Open(rocksdb::Options(), path, families, &handles, &db).ok());
  rocksdb::WriteBatch batch = batch_of(*db, handles);
  REQUIRE(db->Write(rocksdb::WriteOptions(), &batch).ok());
  for (auto* handle : handles) REQUIRE(db->DestroyColumnFamilyHandle(handle).ok());
  delete db;
}

// Cuts the stream and type indexes back to position `keep` (the entries of later positions
// deleted, indexed_through = keep): what a crash between a group's write and its index's
// write leaves.
void CutIndexes(const std::string& path, uint64_t keep) {
  RewriteRaw(path, [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
    rocksdb::WriteBatch batch;
    size_t cut = 0;
    for (size_t family : {3, 4}) {
      std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), handles[family]));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        const std::string_view key = it->key().ToStringView();
        const uint64_t position = family == 3
                                      ? DecodeBigEndian64(it->value().ToStringView())
                                      : DecodeBigEndian64(key.substr(internal::kNameHashSize));
        if (position <= keep) continue;
        batch.Delete(handles[family], it->key());
        ++cut;
      }
    }
    REQUIRE(cut > 0);
    batch.Put(handles[0], internal::kMetaIndexedThrough, std::to_string(keep));
    return batch;
  });
}

TEST_CASE("the indexes trail the records: reads scan what they lack, open derives it") {
  TempDir dir;
  constexpr int kEvents = 60;  // event i: position i + 1, stream s(i % 3), type t or u
  constexpr uint64_t kIndexed = 20;
  {
    auto ledger = OpenLedger(dir.path());
    for (int i = 0; i < kEvents; ++i) {
      auto o = ledger->Append(Propose(MakeEvent(i % 2 ? "u.v1" : "t.v1", "/src",
                                                "e" + std::to_string(i)),
                                      "s" + std::to_string(i % 3)));
      REQUIRE(o.code == AppendCode::kAppended);
    }
  }
  CutIndexes(dir.path(), kIndexed);
  auto expect_reads = [&](Ledger& ledger) {
    for (uint64_t s = 0; s < 3; ++s) {
      const std::string stream = "s" + std::to_string(s);
      // In pages of 7, across the indexed position.
      std::vector<Record> records;
      uint64_t next = 0;
      for (int pages = 0; pages < 10; ++pages) {
        auto page = ledger.ReadStream(stream, next, 7);
        REQUIRE(page.ok());
        for (auto& r : page->records) records.push_back(std::move(r));
        next = page->next;
        if (page->end) break;
      }
      REQUIRE(records.size() == kEvents / 3);
      for (uint64_t r = 0; r < records.size(); ++r) {
        CHECK(records[r].revision() == r);
        CHECK(records[r].position() == s + 1 + 3 * r);
      }
      auto from_tail = ledger.ReadStream(stream, 15, kReadPageEventsMax);
      REQUIRE(from_tail.ok());
      REQUIRE(from_tail->records.size() == 5);
      CHECK(from_tail->records.front().revision() == 15);
    }
    auto of_type = ledger.ReadAll({.from_position = 1, .limit = kReadPageEventsMax, .type = "u.v1"});
    REQUIRE(of_type.ok());
    REQUIRE(of_type->records.size() == kEvents / 2);
    for (size_t k = 0; k < of_type->records.size(); ++k) {
      CHECK(of_type->records[k].position() == 2 * (k + 1));
    }
    auto both = ledger.ReadAll({.from_position = 30, .limit = kReadPageEventsMax, .type = "u.v1",
                                .stream = "s1"});
    REQUIRE(both.ok());
    std::vector<uint64_t> positions;
    for (const auto& r : both->records) positions.push_back(r.position());
    CHECK(positions == std::vector<uint64_t>{32, 38, 44, 50, 56});
    auto report = ledger.Verify(nullptr);
    REQUIRE(report.ok());
    CHECK(report->intact);
  };
  {
    LedgerOptions options;
    options.path = dir.path();
    options.read_only = true;
    auto reader = Ledger::Open(options);
    REQUIRE(reader.ok());
    CHECK((*reader)->Stats()->indexed_position == kIndexed);
    expect_reads(**reader);
  }
  auto ledger = OpenLedger(dir.path());
  CHECK(ledger->Stats()->indexed_position == kEvents);
  expect_reads(*ledger);
  // The writer finds the stream heads in the index derived at open.
  auto next = AppendOne(*ledger, "next", "s2", ExpectedRevision::Exact(19));
  CHECK(next.code == AppendCode::kAppended);
  CHECK(next.revision == 20);
}

TEST_CASE("PeekEventType reads the type from stored bytes, and nothing from broken ones") {
  TempDir dir;
  auto ledger = OpenLedger(dir.path());
  const std::vector<std::string> types = {"t.v1", "com.example.a-much-longer.type.name.v2",
                                          std::string(kTypeBytesMax, 'x')};
  for (size_t i = 0; i < types.size(); ++i) {
    auto o = ledger->Append(Propose(MakeEvent(types[i], "/src", "e" + std::to_string(i),
                                              R"({"pad":")" + std::string(300 * i, 'p') + "\"}"),
                                    "s"));
    REQUIRE(o.code == AppendCode::kAppended);
  }
  std::vector<std::string> stored;
  REQUIRE(ledger->Scan(1, [&](uint64_t, std::string_view bytes) {
    stored.emplace_back(bytes);
    return true;
  }).ok());
  REQUIRE(stored.size() == types.size());
  for (size_t i = 0; i < types.size(); ++i) {
    auto type = PeekEventType(stored[i]);
    REQUIRE(type.has_value());
    CHECK(*type == types[i]);
    // Cut anywhere before the type's last byte, or garbage: no type.
    for (size_t cut : {size_t{0}, size_t{3}, stored[i].size() / 2}) {
      CHECK_FALSE(PeekEventType(std::string_view(stored[i]).substr(0, cut)).has_value());
    }
  }
  CHECK_FALSE(PeekEventType(std::string(200, '\xff')).has_value());
}

TEST_CASE("EncodeRecordFields writes what protobuf writes, zero values and all") {
  // The writer encodes records by hand (EncodeRecordFields); every reader parses them with
  // protobuf. The bytes must be protobuf's own: fields in number order, zeros and empty strings
  // left out, negative times as ten-byte varints, lengths past one varint byte.
  std::mt19937_64 rng(42);
  const std::vector<uint64_t> numbers = {0, 1, 127, 128, 16383, 16384, (1ull << 35) + 5, UINT64_MAX};
  const std::vector<int64_t> times = {0, 1, -1, INT64_MIN, INT64_MAX, 1796623709448175000};
  const std::vector<std::string> texts = {"", "s", std::string(127, 'a'), std::string(128, 'b'),
                                          std::string(300, 'c'), "caf\xC3\xA9"};
  Sha256Hasher hasher;
  for (int round = 0; round < 500; ++round) {
    auto pick = [&](const auto& v) { return v[rng() % v.size()]; };
    Record record;
    record.set_position(std::max<uint64_t>(1, pick(numbers)));
    record.set_stream(pick(texts));
    record.set_revision(pick(numbers));
    record.set_idempotency_key(pick(texts));
    record.set_content_digest(std::string(rng() % 2 ? 32 : 0, '\x5a'));
    record.set_recorded_at_ns(pick(times));
    record.set_origin(pick(texts));
    record.set_prev_hash(std::string(32, static_cast<char>(rng())));
    const std::string event_bytes = CanonicalBytes(MakeEvent(
        "t.v1", "/src", "e" + std::to_string(round), "\"" + std::string(rng() % 400, 'p') + "\""));

    std::string expected;
    REQUIRE(record.SerializeToString(&expected));
    expected.push_back('\x4a');  // field 9, the event
    REQUIRE(event_bytes.size() < 16384);  // a varint of one or two bytes, written out below
    expected.push_back(static_cast<char>(event_bytes.size() < 128 ? event_bytes.size()
                                                                  : (event_bytes.size() | 0x80)));
    if (event_bytes.size() >= 128) expected.push_back(static_cast<char>(event_bytes.size() >> 7));
    expected += event_bytes;
    const std::string expected_hash = hasher.Digest(record.prev_hash(), expected);
    expected += "\x7a\x20" + expected_hash;

    const RecordFields fields{record.position(),       record.stream(),
                              record.revision(),       record.idempotency_key(),
                              record.content_digest(), record.recorded_at_ns(),
                              record.origin(),         record.prev_hash()};
    std::string hash;
    const std::string stored = EncodeRecordFields(fields, event_bytes, &hasher, &hash);
    INFO("round " << round);
    REQUIRE(stored == expected);
    CHECK(hash == expected_hash);
    Record decoded;
    REQUIRE(DecodeRecord(stored, &decoded).ok());
    CHECK(decoded.position() == record.position());
    CHECK(decoded.recorded_at_ns() == record.recorded_at_ns());
    CHECK(decoded.hash() == hash);
    CHECK(CheckRecordHash(stored, decoded, &hasher).ok());
  }
}

TEST_CASE("a ledger from before indexed_through: its indexes were written with its records") {
  TempDir dir;
  {
    auto ledger = OpenLedger(dir.path());
    for (int i = 0; i < 10; ++i) {
      REQUIRE(AppendOne(*ledger, "e" + std::to_string(i), "s").code == AppendCode::kAppended);
    }
  }
  RewriteRaw(dir.path(), [](rocksdb::DB&, const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
    rocksdb::WriteBatch batch;
    batch.Delete(handles[0], internal::kMetaIndexedThrough);
    return batch;
  });
  auto ledger = OpenLedger(dir.path());
  CHECK(ledger->Stats()->indexed_position == 10);
  auto page = ledger->ReadStream("s", 0, kReadPageEventsMax);
  REQUIRE(page.ok());
  CHECK(page->records.size() == 10);
  CHECK(AppendOne(*ledger, "e10", "s", ExpectedRevision::Exact(9)).code == AppendCode::kAppended);
}

TEST_CASE("stream heads leave the writer's cache only once the index holds them") {
  TempDir dir;
  LedgerOptions options;
  options.path = dir.path();
  options.stream_cache_entries_max = 4;  // far fewer than the streams written
  auto ledger = Ledger::Open(options);
  REQUIRE(ledger.ok());
  // Submitted without waiting: large groups, each looking up streams whose last events are in
  // the group before (written, maybe not yet indexed) or earlier in its own group.
  constexpr int kStreams = 24;
  constexpr int kEvents = 2400;
  std::mutex mu;
  std::vector<AppendOutcome> outcomes;
  std::atomic<int> answered{0};
  for (int i = 0; i < kEvents; ++i) {
    std::vector<ProposedEvent> one;
    one.push_back(Propose(MakeEvent("t.v1", "/src", "e" + std::to_string(i)),
                          "s" + std::to_string(i % kStreams)));
    (*ledger)->Submit(std::move(one), [&](std::vector<AppendOutcome> out) {
      std::lock_guard lock(mu);
      outcomes.push_back(std::move(out.front()));
      ++answered;
    });
  }
  for (int i = 0; i < 2000 && answered.load() < kEvents; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::lock_guard lock(mu);
  REQUIRE(outcomes.size() == kEvents);
  std::sort(outcomes.begin(), outcomes.end(),
            [](const auto& a, const auto& b) { return a.position < b.position; });
  std::map<std::string, uint64_t> next_revision;
  for (const auto& o : outcomes) {
    REQUIRE(o.code == AppendCode::kAppended);
    INFO("position ", o.position, " in stream ", o.stream);
    CHECK(o.revision == next_revision[o.stream]++);
  }
  for (int s = 0; s < kStreams; ++s) {
    auto page = (*ledger)->ReadStream("s" + std::to_string(s), 0, kReadPageEventsMax);
    REQUIRE(page.ok());
    CHECK(page->records.size() == kEvents / kStreams);
  }
}

TEST_CASE("expected revision: any, no stream, stream exists, exact") {
  TempDir dir;
  auto ledger = OpenLedger(dir.path());
  auto exists_missing = AppendOne(*ledger, "a", "s", ExpectedRevision::StreamExists());
  CHECK(exists_missing.code == AppendCode::kWrongRevision);
  CHECK_FALSE(exists_missing.actual_revision.has_value());
  CHECK(AppendOne(*ledger, "b", "s", ExpectedRevision::Exact(0)).code == AppendCode::kWrongRevision);
  CHECK(AppendOne(*ledger, "c", "s", ExpectedRevision::NoStream()).code == AppendCode::kAppended);
  auto no_stream = AppendOne(*ledger, "d", "s", ExpectedRevision::NoStream());
  CHECK(no_stream.code == AppendCode::kWrongRevision);
  CHECK(no_stream.actual_revision == 0u);
  CHECK(AppendOne(*ledger, "e", "s", ExpectedRevision::Exact(0)).code == AppendCode::kAppended);
  auto stale = AppendOne(*ledger, "f", "s", ExpectedRevision::Exact(0));
  CHECK(stale.code == AppendCode::kWrongRevision);
  CHECK(stale.actual_revision == 1u);
  CHECK(AppendOne(*ledger, "g", "s", ExpectedRevision::StreamExists()).code == AppendCode::kAppended);
  CHECK(AppendOne(*ledger, "h", "s", ExpectedRevision::Any()).code == AppendCode::kAppended);
  CHECK(CountAll(*ledger) == 4);
  // A retry of a successful conditional append is a Duplicate, not a WrongRevision.
  CHECK(AppendOne(*ledger, "c", "s", ExpectedRevision::NoStream()).code == AppendCode::kDuplicate);
}

TEST_CASE("a batch is atomic") {
  TempDir dir;
  auto ledger = OpenLedger(dir.path());
  REQUIRE(AppendOne(*ledger, "before", "s").code == AppendCode::kAppended);
  std::vector<ProposedEvent> bad;
  bad.push_back(Propose(MakeEvent("t.v1", "/src", "b1"), "s"));
  bad.push_back(Propose(MakeEvent("t.v1", "/src", "before"), "s"));  // a duplicate
  bad.push_back(Propose(MakeEvent("t.v1", "/src", "b2"), "s", "", ExpectedRevision::Exact(7)));
  bad.push_back(Propose(MakeEvent("t.v1", "/src", "b3"), "s"));
  auto out = ledger->AppendBatch(std::move(bad));
  REQUIRE(out.size() == 4);
  CHECK(out[0].code == AppendCode::kBatchAborted);
  CHECK(out[1].code == AppendCode::kBatchAborted);  // a duplicate, but the batch is refused
  CHECK(out[2].code == AppendCode::kWrongRevision);
  CHECK(out[3].code == AppendCode::kBatchAborted);
  CHECK(CountAll(*ledger) == 1);

  std::vector<ProposedEvent> good;
  good.push_back(Propose(MakeEvent("t.v1", "/src", "g1"), "s", "", ExpectedRevision::Exact(0)));
  good.push_back(Propose(MakeEvent("t.v1", "/src", "g2"), "s", "", ExpectedRevision::Exact(1)));
  good.push_back(Propose(MakeEvent("t.v1", "/src", "g1"), "s"));  // in-batch retry
  out = ledger->AppendBatch(std::move(good));
  CHECK(out[0].code == AppendCode::kAppended);
  CHECK(out[1].code == AppendCode::kAppended);
  CHECK(out[1].revision == 2);
  CHECK(out[2].code == AppendCode::kDuplicate);
  CHECK(out[2].position == out[0].position);
  CHECK(CountAll(*ledger) == 3);

  // In-batch key reuse refuses the whole batch.
  std::vector<ProposedEvent> reuse;
  reuse.push_back(Propose(MakeEvent("t.v1", "/src", "r1", "{}"), "", "k"));
  reuse.push_back(Propose(MakeEvent("t.v1", "/src", "r1", "[]"), "", "k"));
  out = ledger->AppendBatch(std::move(reuse));
  CHECK(out[0].code == AppendCode::kBatchAborted);
  CHECK(out[1].code == AppendCode::kKeyReuse);
  CHECK(CountAll(*ledger) == 3);
  // The ledger goes on from where it was: no position was used up by refusals.
  CHECK(AppendOne(*ledger, "after").position == 4);
  CHECK(ledger->Verify({})->intact);
}

TEST_CASE("a large batch, prepared on two threads, answers its first refusal") {
  // Batches of 16 events or more are validated on the caller and a helper thread at once: the
  // answer must still name the first refused event in the batch's order, whichever thread
  // reached which event first.
  TempDir dir;
  auto ledger = OpenLedger(dir.path());
  for (int round = 0; round < 20; ++round) {
    const size_t size = 16 + static_cast<size_t>(round) * 13;
    const size_t first_bad = (static_cast<size_t>(round) * 7) % size;
    std::vector<ProposedEvent> batch;
    for (size_t i = 0; i < size; ++i) {
      std::string id = "r" + std::to_string(round) + "-" + std::to_string(i);
      // Every event from first_bad on, every third one, lacks its id.
      if (i >= first_bad && (i - first_bad) % 3 == 0) id.clear();
      batch.push_back(Propose(MakeEvent("t.v1", "/src", id)));
    }
    auto out = ledger->AppendBatch(std::move(batch));
    REQUIRE(out.size() == size);
    for (size_t i = 0; i < size; ++i) {
      INFO("round " << round << ", event " << i << " of " << size);
      if (i == first_bad) {
        CHECK(out[i].code == AppendCode::kInvalidEvent);
        CHECK(out[i].error.attribute == "id");
      } else {
        CHECK(out[i].code == AppendCode::kBatchAborted);
        CHECK(out[i].error.reason.find("event " + std::to_string(first_bad) + " ") !=
              std::string::npos);
      }
    }
  }
  CHECK(ledger->GetHead().position == 0);
  // And a large batch without refusals is written whole, in order.
  std::vector<ProposedEvent> good;
  for (int i = 0; i < 300; ++i) {
    good.push_back(Propose(MakeEvent("t.v1", "/src", "g" + std::to_string(i))));
  }
  auto out = ledger->AppendBatch(std::move(good));
  for (size_t i = 0; i < out.size(); ++i) {
    REQUIRE(out[i].code == AppendCode::kAppended);
    CHECK(out[i].position == i + 1);
  }
  CHECK(ledger->ReadAt(300)->event().id() == "g299");
}

TEST_CASE("refusals write nothing") {
  TempDir dir;
  auto ledger = OpenLedger(dir.path());
  auto no_id = MakeEvent("t.v1", "/src", "");
  auto out = ledger->Append(Propose(no_id));
  CHECK(out.code == AppendCode::kInvalidEvent);
  CHECK(out.error.attribute == "id");
  CHECK(ledger->Append(Propose(MakeEvent("t.v1", "/src", "x"), "$all")).code ==
        AppendCode::kInvalidEvent);
  CHECK(ledger->Append(Propose(MakeEvent("t.v1", "/src", "x"), std::string("a\nb"))).code ==
        AppendCode::kInvalidEvent);
  std::string big = "\"" + std::string(kEventBytesMax, 'x') + "\"";
  auto too_large = ledger->Append(Propose(MakeEvent("t.v1", "/src", "big", big)));
  CHECK(too_large.code == AppendCode::kTooLarge);
  std::vector<ProposedEvent> many;
  for (size_t i = 0; i <= kBatchEventsMax; ++i) {
    many.push_back(Propose(MakeEvent("t.v1", "/src", "m" + std::to_string(i))));
  }
  auto batch = ledger->AppendBatch(std::move(many));
  CHECK(batch.size() == kBatchEventsMax + 1);
  CHECK(batch[0].code == AppendCode::kTooLarge);
  CHECK(ledger->GetHead().position == 0);
  CHECK(CountAll(*ledger) == 0);
}

TEST_CASE("reads: filters, pages and streams") {
  TempDir dir;
  auto ledger = OpenLedger(dir.path());
  for (int i = 0; i < 30; ++i) {
    const std::string type = i % 3 == 0 ? "three.v1" : "other.v1";
    auto o = ledger->Append(Propose(MakeEvent(type, "/src", "e" + std::to_string(i)),
                                    i % 2 == 0 ? "even" : "odd"));
    REQUIRE(o.code == AppendCode::kAppended);
  }
  auto page = ledger->ReadAll({.from_position = 5, .limit = 10});
  REQUIRE(page.ok());
  CHECK(page->records.size() == 10);
  CHECK(page->records.front().position() == 5);
  CHECK(page->next == 15);
  CHECK_FALSE(page->end);
  auto rest = ledger->ReadAll({.from_position = page->next, .limit = 100});
  CHECK(rest->records.size() == 16);
  CHECK(rest->end);
  CHECK(rest->next == 31);

  auto threes = ledger->ReadAll({.from_position = 1, .limit = 100, .type = "three.v1"});
  CHECK(threes->records.size() == 10);
  for (const auto& r : threes->records) CHECK(r.event().type() == "three.v1");
  auto even_threes =
      ledger->ReadAll({.from_position = 8, .limit = 100, .type = "three.v1", .stream = "even"});
  // i % 6 == 0 at positions i + 1: 1, 7, 13, 19, 25; from 8 leaves three.
  REQUIRE(even_threes->records.size() == 3);
  CHECK(even_threes->records[0].position() == 13);
  CHECK(even_threes->records[2].position() == 25);

  auto odd = ledger->ReadStream("odd", 3, 5);
  REQUIRE(odd.ok());
  CHECK(odd->records.size() == 5);
  CHECK(odd->records.front().revision() == 3);
  CHECK(odd->next == 8);
  auto odd_rest = ledger->ReadStream("odd", odd->next, 100);
  CHECK(odd_rest->records.size() == 7);
  CHECK(odd_rest->end);
  CHECK(ledger->ReadStream("missing", 0, 10)->records.empty());
}

TEST_CASE("the tail wakes on commit") {
  TempDir dir;
  auto ledger = OpenLedger(dir.path());
  std::atomic<uint64_t> seen{0};
  std::thread waiter([&] { seen = ledger->WaitForHead(0, std::chrono::seconds(30)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(AppendOne(*ledger, "a").code == AppendCode::kAppended);
  waiter.join();
  CHECK(seen == 1);
  CHECK(ledger->WaitForHead(1, std::chrono::milliseconds(1)) == 1);  // times out, head unchanged
}

TEST_CASE("registry name, read-only and a second writer") {
  TempDir dir;
  LedgerOptions options;
  options.path = dir.path();
  options.registry_name = "frame-a";
  auto ledger = Ledger::Open(options);
  REQUIRE(ledger.ok());
  CHECK((*ledger)->registry_name() == "frame-a");
  REQUIRE((*ledger)->Append(Propose(MakeEvent("t.v1", "/src", "a"))).code == AppendCode::kAppended);
  auto replicated = Propose(MakeEvent("t.v1", "/peer", "p"));
  replicated.origin = "frame-b";
  REQUIRE((*ledger)->Append(std::move(replicated)).code == AppendCode::kAppended);
  CHECK((*ledger)->ReadAt(2)->origin() == "frame-b");

  auto second = Ledger::Open(options);
  CHECK(second.status().code() == StatusCode::kUnavailable);
  LedgerOptions reader = options;
  reader.read_only = true;
  auto ro = Ledger::Open(reader);
  REQUIRE_MESSAGE(ro.ok(), ro.status().ToString());
  CHECK((*ro)->GetHead().position == 2);
  CHECK((*ro)->Append(Propose(MakeEvent("t.v1", "/src", "b"))).code == AppendCode::kUnavailable);
  ro->reset();
  ledger->reset();

  options.registry_name = "someone-else";
  CHECK(Ledger::Open(options).status().code() == StatusCode::kFailedPrecondition);
}

// The context switches (voluntary and not) of this process's thread named `name`, from
// /proc/self/task/<tid>/status; nullopt when no thread has that name.
std::optional<uint64_t> ThreadSwitches(std::string_view name) {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string comm_name;
    std::getline(comm, comm_name);
    if (comm_name != name) continue;
    std::ifstream status(task.path() / "status");
    uint64_t switches = 0;
    for (std::string line; std::getline(status, line);) {
      for (std::string_view field : {"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"}) {
        if (line.starts_with(field)) switches += std::stoull(line.substr(field.size()));
      }
    }
    return switches;
  }
  return std::nullopt;
}

TEST_CASE("appends one at a time on an idle ledger leave its writer and sync threads asleep") {
  // Each is written, synced and answered on its caller's thread: waking the writer or the sync
  // thread for nothing would cost every such append two thread switches.
  constexpr int kAppends = 200;
  TempDir dir;
  auto ledger = OpenLedger(dir.path());
  REQUIRE(AppendOne(*ledger, "warm-up").code == AppendCode::kAppended);
  const auto writer_before = ThreadSwitches("annals-writer");
  const auto sync_before = ThreadSwitches("annals-sync");
  REQUIRE(writer_before.has_value());
  REQUIRE(sync_before.has_value());
  for (int i = 0; i < kAppends; ++i) {
    REQUIRE(AppendOne(*ledger, "e" + std::to_string(i)).code == AppendCode::kAppended);
  }
  // A thread asleep on its condition variable is not switched in (before the change, each of
  // the two took a wake-up per append).
  CHECK(*ThreadSwitches("annals-writer") - *writer_before < kAppends / 10);
  CHECK(*ThreadSwitches("annals-sync") - *sync_before < kAppends / 10);
  CHECK(ledger->GetHead().position == kAppends + 1);
}

TEST_CASE("close answers everything queued and refuses what comes after") {
  TempDir dir;
  auto ledger = OpenLedger(dir.path());
  std::atomic<int> answered{0};
  for (int i = 0; i < 200; ++i) {
    std::vector<ProposedEvent> one;
    one.push_back(Propose(MakeEvent("t.v1", "/src", "q" + std::to_string(i))));
    ledger->Submit(std::move(one), [&](std::vector<AppendOutcome> out) {
      CHECK(out.size() == 1);
      CHECK(out[0].code == AppendCode::kAppended);
      ++answered;
    });
  }
  ledger->Close();
  CHECK(answered == 200);
  CHECK(AppendOne(*ledger, "late").code == AppendCode::kUnavailable);
  // Reads go on until the Ledger is destroyed.
  CHECK(ledger->GetHead().position == 200);
  CHECK(ledger->ReadAt(200).ok());
}

TEST_CASE("checkpoints live with the ledger and survive reopening") {
  TempDir dir;
  {
    auto ledger = OpenLedger(dir.path());
    REQUIRE(ledger->LoadCheckpoint("publisher").value() == 0);
    REQUIRE(ledger->SaveCheckpoint("publisher", 7).ok());
    REQUIRE(ledger->SaveCheckpoint("reactor/license", 3).ok());
    REQUIRE(ledger->SaveCheckpoint("publisher", 9).ok());
    CHECK(ledger->LoadCheckpoint("publisher").value() == 9);
    CHECK(ledger->SaveCheckpoint("", 1).code() == StatusCode::kInvalidArgument);
    CHECK(ledger->SaveCheckpoint(std::string(kCheckpointNameBytesMax + 1, 'x'), 1).code() ==
          StatusCode::kInvalidArgument);
    // A checkpoint is not a record: the chain and the head do not see it.
    CHECK(ledger->GetHead().position == 0);
    CHECK(ledger->Verify({}).value().intact);
  }
  auto reopened = OpenLedger(dir.path());
  CHECK(reopened->LoadCheckpoint("publisher").value() == 9);
  CHECK(reopened->LoadCheckpoint("reactor/license").value() == 3);
  CHECK(reopened->LoadCheckpoint("reactor/other").value() == 0);
}

}  // namespace
}  // namespace annals::eventstore
