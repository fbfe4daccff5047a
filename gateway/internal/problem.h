// RFC 9457 problem details: every error the gateway answers is an application/problem+json
// body {"type", "title", "status", "detail", ...extension members}, built by Problem() below
// from one table of problem kinds (the HTTP status and title of each). gateway/README.md lists
// them with what each means.
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "annals/base/json_writer.h"
#include "annals/base/status.h"
#include "internal/http.h"

namespace annals::gateway {

enum class ProblemKind : uint8_t {
  kInvalidEvent,          // 400: the CloudEvent breaks the spec or a schema; names "attribute"
  kInvalidRequest,        // 400: a bad parameter, header or HTTP message; names "parameter"
  kUnauthorized,          // 401: no usable credentials (internal/auth.h); WWW-Authenticate
  kForbidden,             // 403: credentials refused, or the routes disabled (internal/auth.h)
  kNotFound,              // 404
  kMethodNotAllowed,      // 405, with an Allow header
  kDuplicate,             // 409: already recorded (a success for retrying clients)
  kWrongRevision,         // 412: Expected-Revision does not match the stream
  kTooLarge,              // 413: body, event or batch over its limit
  kUnsupportedMediaType,  // 415: not a CloudEvents content mode annals reads
  kKeyReuse,              // 422: the idempotency key was used for other content
  kHeadersTooLarge,       // 431
  kInternal,              // 500: corrupt storage or a bug; the detail says what
  kUnavailable,           // 503: storage failing, overloaded or stopping; retry later
  kNotReady,              // 503: /readyz while a view lags or the ledger is unhealthy
};

// The problem's "type": "urn:annals:problem:<name>", with <name> such as "invalid-event".
std::string ProblemType(ProblemKind kind);
int ProblemStatus(ProblemKind kind);

// Writes extension members into the open problem object.
using ProblemMembers = std::function<void(JsonWriter* out)>;

// The problem response of `kind` with `detail` (a sentence saying what was wrong) and, when
// given, extension members. kMethodNotAllowed callers add the Allow header themselves.
Response Problem(ProblemKind kind, std::string_view detail, const ProblemMembers& members = {});

// The problem for an operating error of the ledger or the views: NotFound 404,
// InvalidArgument 400, Unavailable and ResourceExhausted 503, anything else (Corruption, I/O)
// 500. The detail is the Status's text.
Response StatusProblem(const Status& status);

// A kInvalidRequest problem naming the query parameter or header `parameter`.
Response InvalidParameter(std::string_view parameter, std::string_view detail);

}  // namespace annals::gateway
