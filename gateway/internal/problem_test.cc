// Goal: every problem is an RFC 9457 body (type, title, status, detail, members) that parses as
// JSON, with the status of its kind, and 503s say when to retry.
#include <doctest/doctest.h>
#include <simdjson.h>

#include "internal/problem.h"

namespace annals::gateway {
namespace {

simdjson::dom::element Parse(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::element element;
  REQUIRE(parser.parse(json).get(element) == simdjson::SUCCESS);
  return element;
}

TEST_CASE("a problem body names its type, title, status and detail, plus members") {
  const Response r = Problem(ProblemKind::kInvalidEvent, "id: id is required \"quoted\"",
                             [](JsonWriter* out) { out->Member("attribute", "id"); });
  CHECK(r.status == 400);
  CHECK(r.content_type == "application/problem+json");
  simdjson::dom::parser parser;
  auto body = Parse(parser, r.body);
  CHECK(std::string_view(body["type"]) == "urn:annals:problem:invalid-event");
  CHECK(std::string_view(body["title"]) == "Invalid CloudEvent");
  CHECK(int64_t(body["status"]) == 400);
  CHECK(std::string_view(body["detail"]) == "id: id is required \"quoted\"");
  CHECK(std::string_view(body["attribute"]) == "id");
}

TEST_CASE("each kind has its status; 503s carry Retry-After") {
  const std::pair<ProblemKind, int> kinds[] = {
      {ProblemKind::kInvalidEvent, 400},    {ProblemKind::kInvalidRequest, 400},
      {ProblemKind::kUnauthorized, 401},    {ProblemKind::kForbidden, 403},
      {ProblemKind::kNotFound, 404},        {ProblemKind::kMethodNotAllowed, 405},
      {ProblemKind::kDuplicate, 409},       {ProblemKind::kWrongRevision, 412},
      {ProblemKind::kTooLarge, 413},        {ProblemKind::kUnsupportedMediaType, 415},
      {ProblemKind::kKeyReuse, 422},        {ProblemKind::kHeadersTooLarge, 431},
      {ProblemKind::kInternal, 500},        {ProblemKind::kUnavailable, 503},
      {ProblemKind::kNotReady, 503}};
  simdjson::dom::parser parser;
  for (const auto& [kind, status] : kinds) {
    const Response r = Problem(kind, "why");
    CHECK(r.status == status);
    CHECK(ProblemStatus(kind) == status);
    CHECK(int64_t(Parse(parser, r.body)["status"]) == status);
    CHECK(ProblemType(kind).starts_with("urn:annals:problem:"));
    CHECK((r.headers.size() == 1) == (status == 503));
  }
}

TEST_CASE("operating errors map to problems") {
  CHECK(StatusProblem(Status::NotFound("no event at position 9")).status == 404);
  CHECK(StatusProblem(Status::InvalidArgument("bad")).status == 400);
  CHECK(StatusProblem(Status::Unavailable("closing")).status == 503);
  CHECK(StatusProblem(Status::Corruption("position 3: hash")).status == 500);
  const Response r = InvalidParameter("limit", "limit must be a whole number");
  CHECK(r.status == 400);
  CHECK(r.body.find("\"parameter\":\"limit\"") != std::string::npos);
}

}  // namespace
}  // namespace annals::gateway
