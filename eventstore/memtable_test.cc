// Goal: a RocksDB column family whose memtables are annals' own (HashSortRep, PrefixRunRep)
// answers exactly as a sorted map would: point reads (latest and at a snapshot), scans both
// ways, seeks, prefix seeks and prefix SeekForPrev, through writable memtables, read-only ones
// being flushed, SST files and a reopen, under the bytewise comparator (the fast sort) and
// another (the checked fallback), with few buckets (long lists) and many, keys in random order
// (PrefixRunRep's entries beside their runs) and in order within each prefix (its runs, as the
// ledger's indexes write them), and with a reader beside the writer.
#include "internal/memtables.h"

#include <doctest/doctest.h>
#include <rocksdb/comparator.h>
#include <rocksdb/db.h>
#include <rocksdb/slice_transform.h>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "annals/testing/test_util.h"

namespace annals::eventstore::internal {
namespace {

using testing::TempDir;

enum class Rep { kHashSort, kPrefixRun };

struct Setup {
  size_t buckets;
  const rocksdb::Comparator* comparator;
  size_t write_buffer_bytes;
  Rep rep = Rep::kHashSort;
};

// The model: what the family must hold, in the family's order.
struct Less {
  const rocksdb::Comparator* comparator;
  bool operator()(const std::string& a, const std::string& b) const {
    return comparator->Compare(a, b) < 0;
  }
};
using Model = std::map<std::string, std::string, Less>;

class Db {
 public:
  Db(const std::string& path, const Setup& setup) : setup_(setup) { Open(path); }
  ~Db() { Close(); }

  void Open(const std::string& path) {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.allow_concurrent_memtable_write = false;
    options.comparator = setup_.comparator;
    options.write_buffer_size = setup_.write_buffer_bytes;
    options.max_write_buffer_number = 4;
    options.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(8));
    if (setup_.rep == Rep::kHashSort) {
      options.memtable_factory = std::make_shared<HashSortRepFactory>(setup_.buckets);
    } else {
      options.memtable_factory = std::make_shared<PrefixRunRepFactory>(setup_.buckets);
    }
    rocksdb::DB* db = nullptr;
    const rocksdb::Status s = rocksdb::DB::Open(options, path, &db);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    db_.reset(db);
  }
  void Close() { db_.reset(); }
  rocksdb::DB& operator*() { return *db_; }
  rocksdb::DB* operator->() { return db_.get(); }

 private:
  Setup setup_;
  std::unique_ptr<rocksdb::DB> db_;
};

// Keys of three kinds: 32 random bytes (as the dedup index's digests), short keys outside the
// prefix extractor's domain, and keys sharing one of a few 8-byte prefixes (one bucket each).
std::string RandomKey(std::mt19937_64& rng) {
  std::string key;
  switch (rng() % 3) {
    case 0:
      key.resize(32);
      for (char& c : key) c = static_cast<char>(rng());
      break;
    case 1:
      key.resize(1 + rng() % 7);
      for (char& c : key) c = static_cast<char>('a' + rng() % 3);
      break;
    default:
      key = "prefix-" + std::to_string(rng() % 4) + std::to_string(rng() % 1000);
      break;
  }
  return key;
}

std::optional<std::string> Get(rocksdb::DB& db, const std::string& key,
                               const rocksdb::Snapshot* snapshot = nullptr) {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  std::string value;
  const rocksdb::Status s = db.Get(ro, key, &value);
  if (s.IsNotFound()) return std::nullopt;
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return value;
}

// Every read the family answers against `model` (at `snapshot` when given). `absent`: keys
// never written.
void CheckReads(rocksdb::DB& db, const Model& model, const std::vector<std::string>& absent,
                std::mt19937_64& rng, const rocksdb::Snapshot* snapshot = nullptr) {
  for (const auto& [key, value] : model) REQUIRE(Get(db, key, snapshot) == value);
  for (const std::string& key : absent) REQUIRE(Get(db, key, snapshot) == std::nullopt);

  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  ro.total_order_seek = true;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(ro));
  auto m = model.begin();
  for (it->SeekToFirst(); it->Valid(); it->Next(), ++m) {
    REQUIRE(m != model.end());
    REQUIRE(it->key().ToString() == m->first);
    REQUIRE(it->value().ToString() == m->second);
  }
  REQUIRE(it->status().ok());
  REQUIRE(m == model.end());
  auto r = model.rbegin();
  for (it->SeekToLast(); it->Valid(); it->Prev(), ++r) {
    REQUIRE(r != model.rend());
    REQUIRE(it->key().ToString() == r->first);
  }
  REQUIRE(r == model.rend());

  for (int i = 0; i < 300; ++i) {
    const std::string target = RandomKey(rng);
    it->Seek(target);
    auto expected = model.lower_bound(target);
    for (int step = 0; step < 3; ++step, ++expected) {
      REQUIRE(it->Valid() == (expected != model.end()));
      if (!it->Valid()) break;
      REQUIRE(it->key().ToString() == expected->first);
      it->Next();
    }
    it->SeekForPrev(target);
    auto after = model.upper_bound(target);
    if (after == model.begin()) {
      REQUIRE(!it->Valid());
    } else {
      REQUIRE(it->Valid());
      REQUIRE(it->key().ToString() == std::prev(after)->first);
    }
  }

  // A prefix seek (the bucket iterator in the memtable) sees every key of the prefix, in order.
  if (db.GetOptions().comparator == rocksdb::BytewiseComparator()) {
    rocksdb::ReadOptions prefix_ro;
    prefix_ro.snapshot = snapshot;
    prefix_ro.prefix_same_as_start = true;
    std::unique_ptr<rocksdb::Iterator> pit(db.NewIterator(prefix_ro));
    for (int p = 0; p < 4; ++p) {
      const std::string prefix = "prefix-" + std::to_string(p);
      std::vector<std::string> expected;
      for (auto e = model.lower_bound(prefix); e != model.end() && e->first.starts_with(prefix);
           ++e) {
        expected.push_back(e->first);
      }
      std::vector<std::string> seen;
      for (pit->Seek(prefix); pit->Valid(); pit->Next()) seen.push_back(pit->key().ToString());
      REQUIRE(seen == expected);
      // The last key of the prefix (how the ledger finds a stream's head).
      pit->SeekForPrev(prefix + std::string(40, '\xff'));
      REQUIRE(pit->Valid() == !expected.empty());
      if (!expected.empty()) REQUIRE(pit->key().ToString() == expected.back());
    }
  }
}

// Keys as the ledger's indexes write them: one of `names` 8-byte names (the prefix) and a
// big-endian counter that grows per name.
class InOrderKeys {
 public:
  explicit InOrderKeys(int names) : next_(names, 0) {}
  std::string Next(std::mt19937_64& rng) {
    const size_t name = rng() % next_.size();
    // The first four are the prefix seeks' names ("prefix-0" to "prefix-3").
    std::string key = name < 4 ? "prefix-" + std::to_string(name) : "n" + std::to_string(1000000 + name);
    const uint64_t n = next_[name]++;
    for (int i = 7; i >= 0; --i) key.push_back(static_cast<char>(n >> (8 * i)));
    return key;
  }

 private:
  std::vector<uint64_t> next_;
};

void RunRandomWorkload(const Setup& setup, bool in_order = false) {
  TempDir dir;
  std::mt19937_64 rng(setup.buckets * 7919 + setup.write_buffer_bytes);
  Model model{Less{setup.comparator}};
  std::vector<std::string> absent;
  for (int i = 0; i < 200; ++i) absent.push_back(RandomKey(rng) + "~absent");

  Db db(dir.path(), setup);
  InOrderKeys in_order_keys(1000);
  Model at_snapshot{Less{setup.comparator}};
  const rocksdb::Snapshot* snapshot = nullptr;
  constexpr int kOps = 20'000;
  for (int op = 0; op < kOps; ++op) {
    if (op == kOps / 2) {
      snapshot = db->GetSnapshot();
      at_snapshot = model;
    }
    // Overwrites and deletes of keys already written: several versions of a key in one bucket.
    std::string key = in_order ? in_order_keys.Next(rng) : RandomKey(rng);
    if (!in_order && !model.empty() && rng() % 4 == 0) {
      auto pick = model.lower_bound(key);
      if (pick == model.end()) pick = model.begin();
      key = pick->first;
    }
    if (!in_order && rng() % 8 == 0) {
      REQUIRE(db->Delete(rocksdb::WriteOptions(), key).ok());
      model.erase(key);
    } else {
      const std::string value = "v" + std::to_string(op);
      REQUIRE(db->Put(rocksdb::WriteOptions(), key, value).ok());
      model[key] = value;
    }
  }
  SUBCASE("in memtables (and, with small buffers, flushed ones)") {
    CheckReads(*db, model, absent, rng);
    CheckReads(*db, at_snapshot, absent, rng, snapshot);
  }
  SUBCASE("flushed to an SST file") {
    REQUIRE(db->Flush(rocksdb::FlushOptions()).ok());
    CheckReads(*db, model, absent, rng);
    CheckReads(*db, at_snapshot, absent, rng, snapshot);
  }
  SUBCASE("replayed from the WAL after a reopen") {
    db->ReleaseSnapshot(snapshot);
    snapshot = nullptr;
    db.Close();
    db.Open(dir.path());
    CheckReads(*db, model, absent, rng);
  }
  if (snapshot != nullptr) db->ReleaseSnapshot(snapshot);
}

TEST_CASE("one large memtable, bytewise, many buckets") {
  RunRandomWorkload({1 << 16, rocksdb::BytewiseComparator(), 64 << 20});
}

TEST_CASE("one large memtable, bytewise, four buckets: long lists in key order") {
  RunRandomWorkload({4, rocksdb::BytewiseComparator(), 64 << 20});
}

TEST_CASE("small memtables switched and flushed while writing") {
  RunRandomWorkload({256, rocksdb::BytewiseComparator(), 64 << 10});
}

TEST_CASE("another comparator: the sort falls back to it") {
  RunRandomWorkload({256, rocksdb::ReverseBytewiseComparator(), 64 << 20});
}

TEST_CASE("another comparator, small memtables switched and flushed while writing") {
  RunRandomWorkload({256, rocksdb::ReverseBytewiseComparator(), 64 << 10});
}

TEST_CASE("prefix runs: keys in order within 1,000 names, as the indexes write them") {
  RunRandomWorkload({1 << 12, rocksdb::BytewiseComparator(), 64 << 20, Rep::kPrefixRun},
                    /*in_order=*/true);
}

TEST_CASE("prefix runs, few buckets, small memtables switched and flushed while writing") {
  RunRandomWorkload({4, rocksdb::BytewiseComparator(), 64 << 10, Rep::kPrefixRun},
                    /*in_order=*/true);
}

TEST_CASE("prefix runs: keys in random order, kept beside their runs") {
  RunRandomWorkload({256, rocksdb::BytewiseComparator(), 64 << 20, Rep::kPrefixRun});
}

TEST_CASE("prefix runs under another comparator") {
  RunRandomWorkload({256, rocksdb::ReverseBytewiseComparator(), 64 << 20, Rep::kPrefixRun});
}

TEST_CASE("prefix runs under another comparator, small memtables") {
  RunRandomWorkload({256, rocksdb::ReverseBytewiseComparator(), 64 << 10, Rep::kPrefixRun},
                    /*in_order=*/true);
}

void ReaderBesideWriter(Rep rep) {
  TempDir dir;
  Db db(dir.path(), {1 << 10, rocksdb::BytewiseComparator(), 256 << 10, rep});
  constexpr uint64_t kKeys = 20'000;
  // Random order for the hash rep; in order within seven prefixes for the runs (long runs,
  // their chunks and directories growing under the reader).
  auto key_of = [rep](uint64_t i) {
    if (rep == Rep::kHashSort) return "key-" + std::to_string(i * 2654435761u % 1'000'003);
    std::string key = "prefix-" + std::to_string(i % 7);
    for (int b = 7; b >= 0; --b) key.push_back(static_cast<char>(i >> (8 * b)));
    return key;
  };
  std::atomic<uint64_t> written{0};
  std::atomic<bool> failed{false};
  std::thread reader([&] {
    std::mt19937_64 rng(1);
    while (written.load(std::memory_order_acquire) < kKeys && !failed) {
      const uint64_t n = written.load(std::memory_order_acquire);
      if (n == 0) continue;
      for (int i = 0; i < 20; ++i) {
        if (Get(*db, key_of(rng() % n)) == std::nullopt) failed = true;
      }
      rocksdb::ReadOptions ro;
      ro.total_order_seek = true;
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
      uint64_t seen = 0;
      std::string last;
      for (it->SeekToFirst(); it->Valid(); it->Next(), ++seen) {
        if (seen > 0 && it->key().ToString() <= last) failed = true;
        last = it->key().ToString();
      }
      if (seen < n) failed = true;
    }
  });
  for (uint64_t i = 0; i < kKeys; ++i) {
    REQUIRE(db->Put(rocksdb::WriteOptions(), key_of(i), "v").ok());
    written.store(i + 1, std::memory_order_release);
  }
  reader.join();
  CHECK(!failed);
}

TEST_CASE("a reader beside the writer sees every key written before it looked") {
  ReaderBesideWriter(Rep::kHashSort);
  ReaderBesideWriter(Rep::kPrefixRun);
}

}  // namespace
}  // namespace annals::eventstore::internal
