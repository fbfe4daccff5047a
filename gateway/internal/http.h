// The gateway's own view of an HTTP exchange, free of Beast: the routes and the CloudEvents
// binding work on these, so that only server.cc compiles Beast and Asio, and the routes can be
// tested without a socket.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace annals::gateway {

// One HTTP header as received: the name lower-cased, the value as Beast gives it (surrounding
// whitespace trimmed).
struct Header {
  std::string name;
  std::string value;
};

// What the connection a request came on says about its client, established before any HTTP
// by the TLS handshake. The session (server.cc) reads it once per connection and copies it into
// each request; access control (internal/auth.h) decides what it is worth.
struct ConnectionIdentity {
  bool tls = false;  // the connection is TLS
  // The client presented a certificate and the handshake verified it against tls.client_ca (a
  // certificate that fails verification fails the handshake: no request comes with one).
  bool client_certificate = false;
  // That certificate's URI subject alternative names, as written in it (a SPIFFE ID is one);
  // its subject, one line (RFC 2253), for logs and problem details. Empty without one.
  std::vector<std::string> uri_sans;
  std::string subject;
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received: "/api/v1/events?from=3"
  std::vector<Header> headers;
  std::string body;
  ConnectionIdentity connection;  // the same for every request of a connection
  // Filled by the router: the `{param}` segments of the matched pattern, percent-decoded.
  std::map<std::string, std::string, std::less<>> params;

  // The path: the target up to '?', still percent-encoded.
  std::string_view path() const;
  // The query string after '?' ("" when none), still percent-encoded.
  std::string_view query() const;
  // The value of the first header named `name` (lower case), or nullptr.
  const std::string* header(std::string_view name) const;
  // How many headers are named `name` (lower case).
  size_t header_count(std::string_view name) const;
  // A path parameter the router filled. REQUIRES: the pattern has it.
  const std::string& param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type
  std::string body;
};

// Completes a request: call exactly once, from any thread (the session posts the response to
// its own strand). Cheap to copy.
using Reply = std::function<void(Response)>;

// A route's handler. `request` is valid only during the call: a handler that answers later
// moves or copies what it needs (it may consume the body).
using Handler = std::function<void(Request& request, Reply reply)>;

// A JSON response with `status` and the compact JSON text `json`.
Response JsonResponse(int status, std::string json);

}  // namespace annals::gateway
