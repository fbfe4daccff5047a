// Goal: GET /api/v1/events/live on a real annalsd serves the ledger as Server-Sent Events: the
// history from `from` first, then each event as it is appended (the stream waits on the
// ledger's tail; nothing asks again); every event is "id: <position>" and "data: <the record
// exactly as GET /api/v1/events/{position} serves it>", with no "event:" field. A client that
// reconnects with Last-Event-ID (over `from`) gets exactly the events after it, with no gap and
// no repeat, even while events are being appended; `type` and `stream` filter both the history
// and the tail. Limits: one stream more than sse_connections_max is answered 503; a client that
// stops reading is cut once its queue passes sse_queue_bytes_max (and resumes with
// Last-Event-ID); an idle stream gets ": ping" heartbeats. SIGTERM ends every stream with the
// chunked body's last chunk, and annalsd exits 0.
//
// The client is a plain socket (the stream never ends by itself, so a whole-response HTTP
// client cannot read it). Waits are bounded only to fail instead of hanging; no timing is
// asserted.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "annals/testing/annalsd_process.h"
#include "annals/testing/http_client.h"
#include "annals/testing/test_util.h"
#include "gateway_test_util.h"

namespace annals::testing {
namespace {

using Clock = std::chrono::steady_clock;

// The longest any one wait of a test may take before the test fails.
constexpr auto kWait = std::chrono::seconds(30);

struct SseEvent {
  std::string id;
  std::string data;
  bool has_event_field = false;
};

// One Server-Sent Events request on a plain socket: the response head, then the chunked body
// decoded into events and comments as bytes arrive.
class SseClient {
 public:
  // Connects and sends GET `target`. `receive_buffer_bytes` > 0 shrinks the socket's receive
  // buffer (set before connecting, so that the window stays small): a client that stops
  // reading then holds little of what is sent.
  SseClient(int port, std::string_view target, const HttpHeaders& headers = {},
            int receive_buffer_bytes = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    if (receive_buffer_bytes > 0) {
      REQUIRE(setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes,
                         sizeof(receive_buffer_bytes)) == 0);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    std::string request = "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n";
    for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
    request += "\r\n";
    REQUIRE(send(fd_, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size()));
  }
  ~SseClient() { Close(); }
  SseClient(const SseClient&) = delete;
  SseClient& operator=(const SseClient&) = delete;

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  // Reads the response head; its status (0 when none came).
  int ReadHead() {
    const auto deadline = Clock::now() + kWait;
    while (!head_read_ && Fill(deadline)) Parse();
    return status_;
  }
  // A response header (lower-case name), "" when absent.
  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers_) {
      if (n == name) return v;
    }
    return "";
  }

  // Reads until `count` events in all have arrived; false when the stream ended first.
  bool WaitEvents(size_t count) {
    return WaitFor([&] { return events_.size() >= count; });
  }
  bool WaitPings(size_t count) {
    return WaitFor([&] { return pings_ >= count; });
  }
  // Reads until the server closes the connection; true when it did.
  bool WaitClosed() {
    const auto deadline = Clock::now() + kWait;
    while (Fill(deadline)) Parse();
    Parse();
    return closed_;
  }

  const std::vector<SseEvent>& events() const { return events_; }
  // The chunked body was ended (its last chunk read).
  bool body_ended() const { return last_chunk_; }
  // The positions of the events received, from their ids.
  std::vector<uint64_t> positions() const {
    std::vector<uint64_t> out;
    for (const SseEvent& e : events_) out.push_back(std::stoull(e.id));
    return out;
  }

 private:
  template <typename Done>
  bool WaitFor(const Done& done) {
    const auto deadline = Clock::now() + kWait;
    Parse();
    while (!done()) {
      if (!Fill(deadline)) {
        Parse();
        return done();
      }
      Parse();
    }
    return true;
  }

  // Appends what the socket has to raw_, waiting until `deadline`; false on close or deadline.
  bool Fill(Clock::time_point deadline) {
    if (fd_ < 0 || closed_) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buffer[64 << 10];
    const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    raw_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  void Parse() {
    if (!head_read_) ParseHead();
    if (head_read_) Dechunk();
    ParseEvents();
  }

  void ParseHead() {
    const size_t end = raw_.find("\r\n\r\n");
    if (end == std::string::npos) return;
    const std::string head = raw_.substr(0, end);
    raw_.erase(0, end + 4);
    head_read_ = true;
    size_t line_end = head.find("\r\n");
    status_ = std::stoi(head.substr(9, 3));
    while (line_end != std::string::npos) {
      const size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line = head.substr(start, line_end - start);
      const size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      headers_.emplace_back(name, line.substr(line.find_first_not_of(' ', colon + 1)));
    }
    chunked_ = header("transfer-encoding") == "chunked";
  }

  // Moves the chunks' data from raw_ to text_.
  void Dechunk() {
    if (!chunked_) {
      text_ += raw_;
      raw_.clear();
      return;
    }
    for (;;) {
      if (chunk_left_ == 0) {
        const size_t line = raw_.find("\r\n");
        if (line == std::string::npos || last_chunk_) return;
        if (chunk_crlf_) {  // the CRLF closing the previous chunk's data
          REQUIRE(line == 0);
          raw_.erase(0, 2);
          chunk_crlf_ = false;
          continue;
        }
        chunk_left_ = std::stoull(raw_.substr(0, line), nullptr, 16);
        raw_.erase(0, line + 2);
        if (chunk_left_ == 0) {
          last_chunk_ = true;
          return;
        }
      }
      const size_t take = std::min<size_t>(chunk_left_, raw_.size());
      if (take == 0) return;
      text_.append(raw_, 0, take);
      raw_.erase(0, take);
      chunk_left_ -= take;
      if (chunk_left_ == 0) chunk_crlf_ = true;
    }
  }

  // Splits text_ into lines; a blank line ends an event.
  void ParseEvents() {
    size_t newline = 0;
    while ((newline = text_.find('\n')) != std::string::npos) {
      const std::string line = text_.substr(0, newline);
      text_.erase(0, newline + 1);
      if (line.empty()) {
        if (!current_.id.empty() || !current_.data.empty()) events_.push_back(current_);
        current_ = {};
      } else if (line[0] == ':') {
        if (line == ": ping") ++pings_;
      } else if (line.starts_with("id: ")) {
        current_.id = line.substr(4);
      } else if (line.starts_with("data: ")) {
        REQUIRE(current_.data.empty());  // one data line per event
        current_.data = line.substr(6);
      } else if (line.starts_with("event:")) {
        current_.has_event_field = true;
      } else {
        FAIL("an unexpected line in the stream: ", line);
      }
    }
  }

  int fd_ = -1;
  std::string raw_;
  std::string text_;
  bool head_read_ = false;
  int status_ = 0;
  HttpHeaders headers_;
  bool chunked_ = false;
  uint64_t chunk_left_ = 0;
  bool chunk_crlf_ = false;
  bool last_chunk_ = false;
  bool closed_ = false;
  std::vector<SseEvent> events_;
  SseEvent current_;
  size_t pings_ = 0;
};

struct Server {
  TempDir dir;
  Annalsd annalsd;
  HttpClient client;

  explicit Server(std::vector<std::string> args = {})
      : annalsd({.data_dir = dir.Sub("data"), .args = std::move(args)}), client(annalsd.port()) {
    REQUIRE(annalsd.listening());
  }

  // Appends `count` events (ids prefix1..prefixN) in one batch; `extra` goes into each.
  void Append(const std::string& prefix, int count, std::string_view extra = "",
              std::string_view type = "test.event") {
    std::string batch = "[";
    for (int i = 1; i <= count; ++i) {
      if (i > 1) batch += ",";
      batch += EventJson(prefix + std::to_string(i), extra, type);
    }
    REQUIRE(client.Post("/api/v1/events", batch + "]", kBatch).status == 201);
  }
};

std::vector<uint64_t> Range(uint64_t from, uint64_t to) {
  std::vector<uint64_t> out;
  for (uint64_t p = from; p <= to; ++p) out.push_back(p);
  return out;
}

TEST_CASE("the history, then each event as it is appended, as GET serves it") {
  Server s;
  s.Append("h", 5);
  SseClient sse(s.annalsd.port(), "/api/v1/events/live?from=1");
  REQUIRE(sse.ReadHead() == 200);
  CHECK(sse.header("content-type") == "text/event-stream");
  CHECK(sse.header("cache-control") == "no-cache");
  CHECK(sse.header("transfer-encoding") == "chunked");
  REQUIRE(sse.WaitEvents(5));
  for (int i = 1; i <= 3; ++i) {
    REQUIRE(s.client.Post("/api/v1/events", EventJson("t" + std::to_string(i)), kStructured)
                .status == 201);
    REQUIRE(sse.WaitEvents(5 + i));
  }
  CHECK(sse.positions() == Range(1, 8));
  for (const SseEvent& event : sse.events()) {
    CAPTURE(event.id);
    CHECK_FALSE(event.has_event_field);
    const HttpResponse record = s.client.Get("/api/v1/events/" + event.id);
    REQUIRE(record.status == 200);
    CHECK(event.data == record.body);
  }
  CHECK(JsonDoc(sse.events()[7].data).str("/id") == "t3");
}

TEST_CASE("without from or Last-Event-ID a stream starts after the head") {
  Server s;
  s.Append("old", 4);
  SseClient sse(s.annalsd.port(), "/api/v1/events/live");
  REQUIRE(sse.ReadHead() == 200);
  s.Append("new", 2);
  REQUIRE(sse.WaitEvents(2));
  CHECK(sse.positions() == std::vector<uint64_t>{5, 6});
  CHECK(JsonDoc(sse.events()[0].data).str("/id") == "new1");
}

TEST_CASE("Last-Event-ID resumes after it, over from: no gap, no repeat, while appending") {
  Server s;
  s.Append("a", 10);
  std::string last_id;
  {
    SseClient first(s.annalsd.port(), "/api/v1/events/live?from=1");
    REQUIRE(first.ReadHead() == 200);
    REQUIRE(first.WaitEvents(4));
    last_id = first.events()[3].id;
  }
  CHECK(last_id == "4");
  // A writer appends while the client reconnects, replays and joins the tail.
  constexpr int kWrites = 200;
  std::thread writer([port = s.annalsd.port()] {
    HttpClient client(port);
    for (int i = 0; i < kWrites; ++i) {
      REQUIRE(client.Post("/api/v1/events", EventJson("w" + std::to_string(i)), kStructured)
                  .status == 201);
    }
  });
  SseClient again(s.annalsd.port(), "/api/v1/events/live?from=1", {{"Last-Event-ID", last_id}});
  REQUIRE(again.ReadHead() == 200);
  writer.join();
  const uint64_t head = HeadPosition(s.client);
  CHECK(head == 10 + kWrites);
  REQUIRE(again.WaitEvents(head - 4));
  CHECK(again.positions() == Range(5, head));

  // An empty Last-Event-ID is no id (an EventSource that has none sends none).
  SseClient empty(s.annalsd.port(), "/api/v1/events/live?from=209", {{"Last-Event-ID", ""}});
  REQUIRE(empty.ReadHead() == 200);
  REQUIRE(empty.WaitEvents(2));
  CHECK(empty.positions() == std::vector<uint64_t>{209, 210});
}

TEST_CASE("type and stream filter the history and the tail") {
  Server s;
  // Positions 1-3: test.a in stream s1; 4-6: test.b in s1; 7-9: test.a in no stream.
  s.Append("a", 3, ",\"subject\":\"s1\"", "test.a");
  s.Append("b", 3, ",\"subject\":\"s1\"", "test.b");
  s.Append("c", 3, "", "test.a");
  SseClient by_type(s.annalsd.port(), "/api/v1/events/live?from=1&type=test.a");
  SseClient by_stream(s.annalsd.port(), "/api/v1/events/live?from=2&stream=s1");
  SseClient both(s.annalsd.port(), "/api/v1/events/live?from=1&type=test.b&stream=s1");
  for (SseClient* c : {&by_type, &by_stream, &both}) REQUIRE(c->ReadHead() == 200);
  REQUIRE(by_type.WaitEvents(6));
  REQUIRE(by_stream.WaitEvents(5));
  REQUIRE(both.WaitEvents(3));
  // Positions 10: test.b in no stream; 11: test.a in s1; 12: test.b in s1.
  s.Append("d", 1, "", "test.b");
  s.Append("e", 1, ",\"subject\":\"s1\"", "test.a");
  s.Append("f", 1, ",\"subject\":\"s1\"", "test.b");
  REQUIRE(by_type.WaitEvents(7));
  REQUIRE(by_stream.WaitEvents(7));
  REQUIRE(both.WaitEvents(4));
  CHECK(by_type.positions() == std::vector<uint64_t>{1, 2, 3, 7, 8, 9, 11});
  CHECK(by_stream.positions() == std::vector<uint64_t>{2, 3, 4, 5, 6, 11, 12});
  CHECK(both.positions() == std::vector<uint64_t>{4, 5, 6, 12});
}

TEST_CASE("bad parameters are refused by name") {
  Server s;
  auto refused = [&](const std::string& url, const HttpHeaders& headers,
                     const std::string& parameter) {
    CAPTURE(url);
    const HttpResponse r = s.client.Get(url, headers);
    CHECK(r.status == 400);
    CHECK(ProblemTypeOf(r) == "urn:annals:problem:invalid-request");
    CHECK(JsonDoc(r.body).str("/parameter") == parameter);
  };
  refused("/api/v1/events/live?from=0", {}, "from");
  refused("/api/v1/events/live?from=x", {}, "from");
  refused("/api/v1/events/live?limit=3", {}, "limit");
  refused("/api/v1/events/live?type=a&type=b", {}, "type");
  refused("/api/v1/events/live", {{"Last-Event-ID", "abc"}}, "last-event-id");
  refused("/api/v1/events/live", {{"Last-Event-ID", "-1"}}, "last-event-id");
  refused("/api/v1/events/live", {{"Last-Event-ID", "1"}, {"Last-Event-ID", "2"}},
          "last-event-id");
}

TEST_CASE("one stream more than sse_connections_max is answered 503") {
  Server s({"--sse-connections-max", "2"});
  auto one = std::make_unique<SseClient>(s.annalsd.port(), "/api/v1/events/live");
  SseClient two(s.annalsd.port(), "/api/v1/events/live");
  REQUIRE(one->ReadHead() == 200);
  REQUIRE(two.ReadHead() == 200);
  const HttpResponse refused = s.client.Get("/api/v1/events/live");
  CHECK(refused.status == 503);
  CHECK(ProblemTypeOf(refused) == "urn:annals:problem:unavailable");
  CHECK(refused.header("retry-after") == "1");
  // Other routes go on.
  CHECK(s.client.Get("/api/v1/ledger/head").status == 200);
  // A stream closed by its client frees its place (once the server has seen it go).
  one.reset();
  int status = 0;
  const auto deadline = Clock::now() + kWait;
  while (status != 200 && Clock::now() < deadline) {
    SseClient three(s.annalsd.port(), "/api/v1/events/live");
    status = three.ReadHead();
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(status == 200);
}

TEST_CASE("a client that stops reading is cut at its queue limit, and resumes") {
  constexpr int kBatches = 16;
  constexpr int kPerBatch = 64;
  constexpr uint64_t kEvents = kBatches * kPerBatch;
  Server s({"--sse-queue-bytes-max", "65536"});
  s.Append("first", 1);
  SseClient slow(s.annalsd.port(), "/api/v1/events/live", {}, /*receive_buffer_bytes=*/4096);
  REQUIRE(slow.ReadHead() == 200);
  // 16 MiB of events, far more than the socket buffers and the 64 KiB queue hold.
  const std::string data(16 << 10, 'x');
  for (int b = 0; b < kBatches; ++b) {
    std::string batch = "[";
    for (int i = 0; i < kPerBatch; ++i) {
      if (i > 0) batch += ",";
      batch += R"({"specversion":"1.0","source":"/test","type":"test.big","id":"big)" +
               std::to_string(b * kPerBatch + i) + R"(","data":")" + data + "\"}";
    }
    REQUIRE(s.client.Post("/api/v1/events", batch + "]", kBatch).status == 201);
  }
  // Now it reads: what was sent before the cut, then the close.
  REQUIRE(slow.WaitClosed());
  CHECK_FALSE(slow.body_ended());
  const std::vector<uint64_t> got = slow.positions();
  CHECK(got.size() < kEvents);
  CHECK(got == Range(2, 1 + got.size()));
  CHECK(s.client.Get("/metrics").body.find("\nannals_sse_slow_clients_total 1\n") !=
        std::string::npos);
  // It resumes after the last event it received, and gets exactly the rest.
  const std::string last = got.empty() ? "1" : std::to_string(got.back());
  SseClient resumed(s.annalsd.port(), "/api/v1/events/live", {{"Last-Event-ID", last}});
  REQUIRE(resumed.ReadHead() == 200);
  const uint64_t after = std::stoull(last);
  REQUIRE(resumed.WaitEvents(1 + kEvents - after));
  CHECK(resumed.positions() == Range(after + 1, 1 + kEvents));
}

TEST_CASE("an idle stream gets heartbeats") {
  Server s({"--sse-heartbeat-ms", "50"});
  SseClient sse(s.annalsd.port(), "/api/v1/events/live");
  REQUIRE(sse.ReadHead() == 200);
  CHECK(sse.WaitPings(3));
  CHECK(sse.events().empty());
}

TEST_CASE("SIGTERM ends every stream with the body's end, and annalsd exits 0") {
  Server s;
  s.Append("e", 3);
  SseClient live(s.annalsd.port(), "/api/v1/events/live?from=1");
  SseClient waiting(s.annalsd.port(), "/api/v1/events/live");
  REQUIRE(live.ReadHead() == 200);
  REQUIRE(waiting.ReadHead() == 200);
  REQUIRE(live.WaitEvents(3));
  CHECK(s.annalsd.Stop(SIGTERM) == 0);
  for (SseClient* c : {&live, &waiting}) {
    CHECK(c->WaitClosed());
    CHECK(c->body_ended());
  }
  CHECK(live.positions() == Range(1, 3));
}

}  // namespace
}  // namespace annals::testing
