// Goal: the base library's contracts hold: Status/Result carry codes and messages, the
// big-endian coding sorts numerically and round-trips, SHA-256 matches known vectors, and the
// JSON writer escapes every control character so the output parses back, percent-encoding is
// exact (either hex case, '+' only in queries, malformed escapes refused), and RFC 3339 times are
// written in UTC and read with any offset, refusing what does not exist; WorkSharing calls its
// function once for every item, however many callers share its helper at once; a requested time
// slice is granted as asked and keeps the thread's nice value.
#include <doctest/doctest.h>
#include <sched.h>
#include <simdjson.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "annals/base/coding.h"
#include "annals/base/json_writer.h"
#include "annals/base/percent_encoding.h"
#include "annals/base/sha256.h"
#include "annals/base/status.h"
#include "annals/base/thread_slice.h"
#include "annals/base/work_sharing.h"

namespace annals {
namespace {

Result<int> Half(int v) {
  if (v % 2 != 0) return Status::InvalidArgument("odd");
  return v / 2;
}

Result<int> Quarter(int v) {
  ANNALS_ASSIGN_OR_RETURN(int h, Half(v));
  return Half(h);
}

TEST_CASE("status and result") {
  CHECK(Status::Ok().ok());
  Status s = Status::IOError("disk full").WithContext("appending");
  CHECK(s.code() == StatusCode::kIOError);
  CHECK(s.ToString() == "IOError: appending: disk full");
  CHECK(Quarter(8).value() == 2);
  CHECK(Quarter(6).status().code() == StatusCode::kInvalidArgument);
  CHECK_FALSE(Quarter(6).ok());
}

TEST_CASE("big-endian coding sorts numerically") {
  CHECK(BigEndian64(1) < BigEndian64(256));
  CHECK(BigEndian64(255) < BigEndian64(256));
  CHECK(DecodeBigEndian64(BigEndian64(0x0102030405060708ull)) == 0x0102030405060708ull);
  std::string bytes;
  CHECK(FromHex(ToHex("\x01\xab\xff"), &bytes));
  CHECK(bytes == "\x01\xab\xff");
  CHECK_FALSE(FromHex("abc", &bytes));
  CHECK_FALSE(FromHex("zz", &bytes));
}

TEST_CASE("sha256 known vectors") {
  CHECK(ToHex(Sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(ToHex(Sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256Concat("a", "bc") == Sha256("abc"));
  Sha256Hasher h;
  CHECK(h.Digest("ab", "c") == Sha256("abc"));
}

TEST_CASE("json writer output parses back") {
  std::string nasty = "quote\" backslash\\ newline\n tab\t nul";
  nasty.push_back('\0');
  nasty += " \x01\x1f unicode \xf0\x9f\x8c\x8e";
  JsonWriter w;
  w.BeginObject().Member("s", nasty).Member("n", uint64_t{18446744073709551615ull});
  w.Key("a").BeginArray().Int(-5).Bool(true).Null().Raw("{\"x\":1}").EndArray();
  w.Key("d").Double(1.5).EndObject();
  REQUIRE(w.complete());
  simdjson::ondemand::parser parser;
  simdjson::padded_string json(w.str());
  auto doc = parser.iterate(json);
  std::string_view s;
  REQUIRE(doc["s"].get_string().get(s) == simdjson::SUCCESS);
  CHECK(s == nasty);
  uint64_t n = 0;
  REQUIRE(doc["n"].get_uint64().get(n) == simdjson::SUCCESS);
  CHECK(n == 18446744073709551615ull);
}

TEST_CASE("json strings: every byte at every offset of a block escapes as one at a time would") {
  // A byte-at-a-time reference for AppendJsonString, which scans sixteen bytes at a time.
  auto reference = [](std::string_view value) {
    std::string out = "\"";
    for (unsigned char c : value) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20) {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\u00";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xf]);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
    }
    return out + "\"";
  };
  for (size_t length : {0, 1, 15, 16, 17, 31, 32, 33, 47, 64}) {
    for (size_t at = 0; at < length; ++at) {
      for (int byte = 0; byte < 256; ++byte) {
        std::string value(length, 'a');
        value[at] = static_cast<char>(byte);
        if (at + 1 < length) value[length - 1] = '"';  // a second one later in the string
        std::string out;
        AppendJsonString(&out, value);
        INFO("length " << length << ", byte " << byte << " at " << at);
        REQUIRE(out == reference(value));
      }
    }
  }
}

}  // namespace
}  // namespace annals

#include "annals/base/time_format.h"

namespace annals {
namespace {
TEST_CASE("rfc 3339 formatting") {
  CHECK(FormatRfc3339(0, 0) == "1970-01-01T00:00:00Z");
  CHECK(FormatRfc3339(1522900584, 0) == "2018-04-05T03:56:24Z");
  CHECK(FormatRfc3339(1522900584, 120000000) == "2018-04-05T03:56:24.12Z");
  CHECK(FormatRfc3339Nanos(1522900584000000001) == "2018-04-05T03:56:24.000000001Z");
  CHECK(FormatRfc3339Nanos(-1) == "1969-12-31T23:59:59.999999999Z");
}

TEST_CASE("rfc 3339 parsing: offsets, fractions, range; reasons follow a name") {
  int64_t seconds = 0;
  int32_t nanos = 0;
  CHECK_FALSE(ParseRfc3339("2018-04-05T05:56:24.5+02:00", &seconds, &nanos).has_value());
  CHECK(FormatRfc3339(seconds, nanos) == "2018-04-05T03:56:24.5Z");
  CHECK_FALSE(ParseRfc3339("0001-01-01t00:00:00z", &seconds, &nanos).has_value());
  CHECK(seconds == kRfc3339SecondsMin);
  CHECK(ParseRfc3339("yesterday", &seconds, &nanos)->starts_with("must be an RFC 3339"));
  CHECK(*ParseRfc3339("2026-02-30T00:00:00Z", &seconds, &nanos) == "has a date that does not exist");
  CHECK(ParseRfc3339("2026-01-01T00:00:60Z", &seconds, &nanos).has_value());
  CHECK(ParseRfc3339("2026-01-01T00:00:00", &seconds, &nanos).has_value());     // no offset
  CHECK(ParseRfc3339("2026-01-01T00:00:00.Z", &seconds, &nanos).has_value());   // no digits
  CHECK(ParseRfc3339("0001-01-01T00:00:00+00:01", &seconds, &nanos).has_value());  // < year 1
}
TEST_CASE("percent-decoding") {
  CHECK(PercentDecode("a%20b%2fc%2F", false) == "a b/c/");
  CHECK(PercentDecode("Euro%20%E2%82%AC%20%F0%9F%98%80", false) == "Euro \u20AC \U0001F600");
  CHECK(PercentDecode("a+b", false) == "a+b");
  CHECK(PercentDecode("a+b", true) == "a b");
  CHECK(PercentDecode("%00", false) == std::string(1, '\0'));
  CHECK_FALSE(PercentDecode("%", false));
  CHECK_FALSE(PercentDecode("%4", false));
  CHECK_FALSE(PercentDecode("%G0", false));
  CHECK_FALSE(PercentDecode("abc%", false));
}

TEST_CASE("percent-encoding keeps only unreserved characters") {
  CHECK(PercentEncode("agent-did:web:x.example/a b~_") == "agent-did%3Aweb%3Ax.example%2Fa%20b~_");
  CHECK(PercentEncode("\xC3\xA9") == "%C3%A9");
  for (const std::string s : {"", "plain", "a/b?c=d&e", "\xF0\x9F\x98\x80 %+"}) {
    CHECK(PercentDecode(PercentEncode(s), true) == s);
  }
}


TEST_CASE("work sharing: every item once, from any number of callers at once") {
  WorkSharing sharing("test-helper");
  constexpr int kCallers = 4;
  constexpr int kRunsPerCaller = 300;
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      for (int run = 0; run < kRunsPerCaller; ++run) {
        const size_t n = static_cast<size_t>((run * 37 + c * 11) % 300);  // 0 and 1 included
        auto calls = std::make_unique<std::atomic<int>[]>(n + 1);
        sharing.Run(n, [&](size_t i) { calls[i].fetch_add(1); });
        // Run has returned: every call is over, and none is left to come.
        for (size_t i = 0; i < n; ++i) {
          if (calls[i].load() != 1) wrong.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : callers) t.join();
  CHECK(wrong.load() == 0);
}

TEST_CASE("work sharing: the helper's items are done when Run returns") {
  WorkSharing sharing("test-helper");
  for (int run = 0; run < 200; ++run) {
    std::vector<int> done(64, 0);  // plain ints: Run's return must order them before the reads
    sharing.Run(done.size(), [&](size_t i) {
      if (i % 7 == 0) std::this_thread::yield();
      done[i] = 1;
    });
    int sum = 0;
    for (int d : done) sum += d;
    REQUIRE(sum == 64);
  }
}

TEST_CASE("a requested time slice is the thread's, and keeps its nice value") {
  // On a thread of its own, made nicer first (lowering priority needs no privilege): the request
  // must keep the nice value it found, and when granted the kernel reports the slice asked for.
  std::thread([] {
    const auto tid = static_cast<id_t>(gettid());
    REQUIRE(setpriority(PRIO_PROCESS, tid, 7) == 0);
    const bool granted = RequestTimeSlice(std::chrono::microseconds(250));
    CHECK(getpriority(PRIO_PROCESS, tid) == 7);
    struct {
      uint32_t size, policy;
      uint64_t flags;
      int32_t nice;
      uint32_t priority;
      uint64_t runtime, deadline, period;
      uint32_t util_min, util_max;
    } attr{};
    REQUIRE(syscall(SYS_sched_getattr, 0, &attr, sizeof(attr), 0) == 0);
    CHECK(attr.policy == SCHED_OTHER);
    CHECK(attr.nice == 7);
    MESSAGE("time slice granted: " << granted << ", the kernel reports " << attr.runtime << " ns");
    if (granted) CHECK(attr.runtime == 250'000);
  }).join();
}

}  // namespace
}  // namespace annals
