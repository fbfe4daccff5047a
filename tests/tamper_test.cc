// Goal: a change made to the stored ledger behind its back is caught, and named. The ledger is
// written, closed, and then altered directly in RocksDB: one byte of one record, a record
// replaced by a self-consistent forgery, a record deleted, an index entry redirected. `verify`
// (library and annalsctl) must report each, naming the first bad position.
#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include "annals/base/coding.h"
#include "annals/base/sha256.h"
#include "annals/eventstore/ledger.h"
#include "annals/testing/child_process.h"
#include "annals/testing/test_util.h"

namespace annals {
namespace {

namespace es = eventstore;

constexpr int kEvents = 50;

void WriteLedger(const std::string& path) {
  es::LedgerOptions options;
  options.path = path;
  auto ledger = es::Ledger::Open(options);
  REQUIRE(ledger.ok());
  for (int i = 0; i < kEvents; ++i) {
    auto event = testing::MakeEvent("t.v1", "/tamper", "e" + std::to_string(i),
                                    "{\"amount\":\"" + std::to_string(i * 100) + "\"}");
    REQUIRE((*ledger)->Append(testing::Propose(std::move(event), "s" + std::to_string(i % 3)))
                .code == es::AppendCode::kAppended);
  }
}

// Opens the ledger's RocksDB directly, as someone going around annals would.
struct RawDb {
  explicit RawDb(const std::string& path) {
    std::vector<std::string> names;
    REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const auto& n : names) families.emplace_back(n, rocksdb::ColumnFamilyOptions());
    auto s = rocksdb::DB::Open(rocksdb::Options(), path, families, &handles, &db);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    for (size_t i = 0; i < names.size(); ++i) by_name[names[i]] = handles[i];
  }
  ~RawDb() {
    for (auto* h : handles) (void)db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  std::string Get(const std::string& family, const std::string& key) {
    std::string v;
    REQUIRE(db->Get(rocksdb::ReadOptions(), by_name[family], key, &v).ok());
    return v;
  }
  void Put(const std::string& family, const std::string& key, const std::string& value) {
    REQUIRE(db->Put(rocksdb::WriteOptions(), by_name[family], key, value).ok());
  }
  void Delete(const std::string& family, const std::string& key) {
    REQUIRE(db->Delete(rocksdb::WriteOptions(), by_name[family], key).ok());
  }
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
};

es::VerifyReport VerifyLedger(const std::string& path) {
  es::LedgerOptions options;
  options.path = path;
  options.read_only = true;
  auto ledger = es::Ledger::Open(options);
  REQUIRE_MESSAGE(ledger.ok(), ledger.status().ToString());
  auto report = (*ledger)->Verify({});
  REQUIRE(report.ok());
  return *report;
}

TEST_CASE("one byte changed in a stored record") {
  testing::TempDir dir;
  const std::string path = dir.Sub("ledger");
  WriteLedger(path);
  CHECK(VerifyLedger(path).intact);
  {
    RawDb raw(path);
    std::string value = raw.Get("records", BigEndian64(17));
    const size_t at = value.find("1600");  // the amount in the event's data
    REQUIRE(at != std::string::npos);
    value[at] = '9';
    raw.Put("records", BigEndian64(17), value);
  }
  auto report = VerifyLedger(path);
  CHECK_FALSE(report.intact);
  CHECK(report.first_bad_position == 17);
  CHECK(report.records_checked == 16);

  // annalsctl says the same, with a non-zero exit.
  auto result = testing::RunCommand(
      {testing::BinDir() + "/annalsctl", "--data", dir.path(), "verify"});
  CHECK(result.exit_code == 1);
  CHECK(result.out.find("\"result\":\"corrupt\"") != std::string::npos);
  CHECK(result.out.find("\"position\":17") != std::string::npos);
}

// Rewrites record 30 with other data, a matching digest and a recomputed hash; with
// `forge_index`, also the idempotency index entry that records the original digest.
void Forge(const std::string& path, bool forge_index) {
  RawDb raw(path);
  es::Record record;
  REQUIRE(es::DecodeRecord(raw.Get("records", BigEndian64(30)), &record).ok());
  record.mutable_event()->set_text_data("{\"amount\":\"999999\"}");
  const std::string event_bytes = es::CanonicalBytes(record.event());
  record.set_content_digest(Sha256(event_bytes));
  record.clear_event();
  record.clear_hash();
  Sha256Hasher hasher;
  raw.Put("records", BigEndian64(30), es::EncodeRecord(&record, event_bytes, &hasher));
  if (forge_index) {
    raw.Put("idem", Sha256(record.idempotency_key()),
            BigEndian64(30) + record.content_digest());
  }
}

TEST_CASE("a forged record with a recomputed hash") {
  testing::TempDir dir;
  const std::string path = dir.Sub("ledger");
  WriteLedger(path);
  SUBCASE("the dedup index still holds the original digest") {
    Forge(path, false);
    auto report = VerifyLedger(path);
    CHECK_FALSE(report.intact);
    CHECK(report.first_bad_position == 30);
  }
  SUBCASE("the index forged too: the next record's prev_hash no longer matches") {
    Forge(path, true);
    auto report = VerifyLedger(path);
    CHECK_FALSE(report.intact);
    CHECK(report.first_bad_position == 31);
    CHECK(report.problem.find("prev_hash") != std::string::npos);
  }
}

TEST_CASE("a deleted record is a gap") {
  testing::TempDir dir;
  const std::string path = dir.Sub("ledger");
  WriteLedger(path);
  {
    RawDb raw(path);
    raw.Delete("records", BigEndian64(12));
  }
  auto report = VerifyLedger(path);
  CHECK_FALSE(report.intact);
  CHECK(report.first_bad_position == 12);
}

TEST_CASE("an index redirected to another record") {
  testing::TempDir dir;
  const std::string path = dir.Sub("ledger");
  WriteLedger(path);
  {
    RawDb raw(path);
    // Point the idempotency entry of position 5's key at position 6.
    es::Record record;
    REQUIRE(es::DecodeRecord(raw.Get("records", BigEndian64(5)), &record).ok());
    const std::string key = Sha256(record.idempotency_key());
    std::string value = raw.Get("idem", key);
    raw.Put("idem", key, BigEndian64(6) + value.substr(8));
  }
  auto report = VerifyLedger(path);
  CHECK_FALSE(report.intact);
  CHECK(report.first_bad_position == 5);
}

}  // namespace
}  // namespace annals
