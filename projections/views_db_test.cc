// Goal: a fold batch is read-your-own-writes (Get and Scan see the batch's puts and deletes over
// the committed rows, in key order, within the prefix only), a row written many times in a batch
// is committed once with its last value, a cleared batch leaves nothing, and data_bytes counts
// what the commit will write.
#include "annals/projections/views_db.h"

#include <doctest/doctest.h>

#include <map>
#include <random>

#include "annals/testing/test_util.h"

namespace annals::projections {
namespace {

struct Db {
  Db() {
    auto opened = ViewsDb::Open({.path = dir.Sub("views")});
    REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
    db = std::move(opened).value();
    REQUIRE(db->Swap("v", 1, 1).ok());
  }
  std::map<std::string, std::string> Rows(std::string_view prefix = "") {
    auto reader = db->Reader("v");
    REQUIRE(reader.ok());
    std::map<std::string, std::string> rows;
    REQUIRE(reader->Scan(prefix, "", [&](std::string_view k, std::string_view v) {
      rows.emplace(k, v);
      return true;
    }).ok());
    return rows;
  }
  testing::TempDir dir;  // declared first: destroyed after the database closes
  std::unique_ptr<ViewsDb> db;
};

std::map<std::string, std::string> TxnRows(ViewTxn& txn, std::string_view prefix) {
  std::map<std::string, std::string> rows;
  std::string last;
  REQUIRE(txn.Scan(prefix, [&](std::string_view k, std::string_view v) {
    CHECK(std::string(k) > last);  // key order, each key once
    last = k;
    rows.emplace(k, v);
    return true;
  }).ok());
  return rows;
}

TEST_CASE("a batch reads its own writes over the committed rows") {
  Db t;
  auto batch = t.db->BeginBatch("v", 1);
  ViewTxn& txn = batch->txn();
  txn.Put("a/1", "one");
  txn.Put("a/3", "three");
  txn.Put("b/1", "b");
  REQUIRE(batch->Commit(10).ok());
  CHECK(t.Rows() == std::map<std::string, std::string>{{"a/1", "one"}, {"a/3", "three"}, {"b/1", "b"}});

  txn.Put("a/2", "two");
  txn.Put("a/3", "THREE");
  txn.Delete("a/1");
  txn.Put("a/4", "four");
  txn.Delete("a/9");  // never stored
  CHECK(*txn.Get("a/2").value() == "two");
  CHECK(*txn.Get("a/3").value() == "THREE");
  CHECK_FALSE(txn.Get("a/1").value().has_value());
  CHECK(*txn.Get("b/1").value() == "b");
  CHECK_FALSE(txn.Get("zz").value().has_value());
  CHECK(TxnRows(txn, "a/") ==
        std::map<std::string, std::string>{{"a/2", "two"}, {"a/3", "THREE"}, {"a/4", "four"}});
  CHECK(TxnRows(txn, "b/") == std::map<std::string, std::string>{{"b/1", "b"}});
  // Nothing is visible to readers before the commit.
  CHECK(t.Rows("a/") == std::map<std::string, std::string>{{"a/1", "one"}, {"a/3", "three"}});
  REQUIRE(batch->Commit(11).ok());
  CHECK(t.Rows() == std::map<std::string, std::string>{
                        {"a/2", "two"}, {"a/3", "THREE"}, {"a/4", "four"}, {"b/1", "b"}});
  CHECK(t.db->Checkpoint("v", 1).value() == 11);
}

TEST_CASE("a row written many times in a batch is committed once, with its last value") {
  Db t;
  auto batch = t.db->BeginBatch("v", 1);
  ViewTxn& txn = batch->txn();
  txn.Put("n", "0");
  const size_t first = batch->data_bytes();
  for (int i = 1; i <= 1000; ++i) txn.Put("n", std::to_string(i));
  CHECK(batch->data_bytes() == first + 3);  // one row: "1000" in place of "0"
  txn.Put("d", "x");
  txn.Delete("d");
  REQUIRE(batch->Commit(1).ok());
  CHECK(t.Rows() == std::map<std::string, std::string>{{"n", "1000"}});
}

TEST_CASE("data_bytes counts what the commit writes, not every write") {
  Db t;
  auto batch = t.db->BeginBatch("v", 1);
  ViewTxn& txn = batch->txn();
  txn.Put("k", std::string(100, 'a'));
  const size_t one = batch->data_bytes();
  CHECK(one > 100);
  for (int i = 0; i < 50; ++i) txn.Put("k", std::string(100, 'b'));
  CHECK(batch->data_bytes() == one);
  txn.Put("k", std::string(10, 'c'));
  CHECK(batch->data_bytes() == one - 90);
  txn.Delete("k");
  CHECK(batch->data_bytes() == one - 100);
  batch->Clear();
  CHECK(batch->data_bytes() == 0);
}

TEST_CASE("a cleared batch writes nothing") {
  Db t;
  auto batch = t.db->BeginBatch("v", 1);
  batch->txn().Put("a", "1");
  batch->Clear();
  CHECK_FALSE(batch->txn().Get("a").value().has_value());
  REQUIRE(batch->Commit(5).ok());
  CHECK(t.Rows().empty());
  CHECK(t.db->Checkpoint("v", 1).value() == 5);
}

TEST_CASE("Scan merges at random against a model") {
  Db t;
  std::mt19937 rng(7);
  std::map<std::string, std::string> model;
  auto batch = t.db->BeginBatch("v", 1);
  ViewTxn& txn = batch->txn();
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 50; ++i) {
      std::string key = "r/" + std::to_string(rng() % 40);
      if (rng() % 3 == 0) {
        txn.Delete(key);
        model.erase(key);
      } else {
        std::string value = std::to_string(rng());
        txn.Put(key, value);
        model[key] = value;
      }
    }
    CHECK(TxnRows(txn, "r/") == model);
    if (round % 2 == 0) {
      REQUIRE(batch->Commit(static_cast<uint64_t>(round + 1)).ok());
      CHECK(t.Rows("r/") == model);
    }
  }
}

}  // namespace
}  // namespace annals::projections
