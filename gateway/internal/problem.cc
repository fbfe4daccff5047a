#include "internal/problem.h"

#include "annals/base/assert.h"

namespace annals::gateway {
namespace {

struct ProblemInfo {
  int status;
  std::string_view name;
  std::string_view title;
};

ProblemInfo Info(ProblemKind kind) {
  switch (kind) {
    case ProblemKind::kInvalidEvent: return {400, "invalid-event", "Invalid CloudEvent"};
    case ProblemKind::kInvalidRequest: return {400, "invalid-request", "Invalid request"};
    case ProblemKind::kUnauthorized: return {401, "unauthorized", "Unauthorized"};
    case ProblemKind::kForbidden: return {403, "forbidden", "Forbidden"};
    case ProblemKind::kNotFound: return {404, "not-found", "Not found"};
    case ProblemKind::kMethodNotAllowed:
      return {405, "method-not-allowed", "Method not allowed"};
    case ProblemKind::kDuplicate: return {409, "duplicate", "Already recorded"};
    case ProblemKind::kWrongRevision:
      return {412, "wrong-revision", "Expected revision does not match"};
    case ProblemKind::kTooLarge: return {413, "too-large", "Too large"};
    case ProblemKind::kUnsupportedMediaType:
      return {415, "unsupported-media-type", "Unsupported media type"};
    case ProblemKind::kKeyReuse:
      return {422, "key-reuse", "Idempotency key used for other content"};
    case ProblemKind::kHeadersTooLarge:
      return {431, "headers-too-large", "Request header fields too large"};
    case ProblemKind::kInternal: return {500, "internal", "Internal error"};
    case ProblemKind::kUnavailable: return {503, "unavailable", "Service unavailable"};
    case ProblemKind::kNotReady: return {503, "not-ready", "Not ready"};
  }
  ANNALS_UNREACHABLE();
}

}  // namespace

std::string ProblemType(ProblemKind kind) {
  return "urn:annals:problem:" + std::string(Info(kind).name);
}

int ProblemStatus(ProblemKind kind) { return Info(kind).status; }

Response Problem(ProblemKind kind, std::string_view detail, const ProblemMembers& members) {
  const ProblemInfo info = Info(kind);
  JsonWriter out;
  out.BeginObject()
      .Member("type", ProblemType(kind))
      .Member("title", info.title)
      .Member("status", info.status)
      .Member("detail", detail);
  if (members) members(&out);
  out.EndObject();
  Response response;
  response.status = info.status;
  response.content_type = "application/problem+json";
  response.body = out.Release();
  if (info.status == 503) response.headers.emplace_back("Retry-After", "1");
  return response;
}

Response StatusProblem(const Status& status) {
  ANNALS_ASSERT(!status.ok());
  switch (status.code()) {
    case StatusCode::kNotFound: return Problem(ProblemKind::kNotFound, status.message());
    case StatusCode::kInvalidArgument:
      return Problem(ProblemKind::kInvalidRequest, status.message());
    case StatusCode::kUnavailable:
    case StatusCode::kResourceExhausted:
      return Problem(ProblemKind::kUnavailable, status.ToString());
    default: return Problem(ProblemKind::kInternal, status.ToString());
  }
}

Response InvalidParameter(std::string_view parameter, std::string_view detail) {
  return Problem(ProblemKind::kInvalidRequest, detail,
                 [&](JsonWriter* out) { out->Member("parameter", parameter); });
}

}  // namespace annals::gateway
