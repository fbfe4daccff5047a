// Goal: the access class of a path is decided by whole-segment prefixes, after percent-decoding;
// credentials are checked for their exact format; and the router's guard (AddAccessControl)
// answers admin requests before any handler runs, letting only a configured token through.
// Federation licenses need a ledger and the peers view: tests/gateway_auth_test.cc has them.
#include "internal/auth.h"

#include <doctest/doctest.h>

#include <string>

#include "annals/base/coding.h"
#include "annals/base/sha256.h"
#include "internal/router.h"
#include "internal/routes.h"

namespace annals::gateway {
namespace {

TEST_CASE("paths are classified by whole-segment prefixes, after percent-decoding") {
  CHECK(ClassifyPath("/api/v1/admin") == Access::kAdmin);
  CHECK(ClassifyPath("/api/v1/admin/federation/drift-scan") == Access::kAdmin);
  CHECK(ClassifyPath("/api/v1/admin/federation/compliance/peers/p%2F1") == Access::kAdmin);
  CHECK(ClassifyPath("/api/v1/%61dmin/x") == Access::kAdmin);
  CHECK(ClassifyPath("/api/v1%2Fadmin") == Access::kAdmin);
  CHECK(ClassifyPath("/api/v1/federation") == Access::kFederation);
  CHECK(ClassifyPath("/api/v1/federation/peers") == Access::kFederation);
  CHECK(ClassifyPath("/api/v1/%66ederation/agent-cards") == Access::kFederation);
  CHECK(ClassifyPath("/api/v1/administrators") == Access::kPublic);
  CHECK(ClassifyPath("/api/v1/federations") == Access::kPublic);
  CHECK(ClassifyPath("/api/v1/events") == Access::kPublic);
  CHECK(ClassifyPath("/api/v1/streams/admin/events") == Access::kPublic);
  CHECK(ClassifyPath("/.well-known/registry-card.json") == Access::kPublic);
  CHECK(ClassifyPath("/api/v2/admin/x") == Access::kPublic);
  CHECK(ClassifyPath("/api/v1/admin%zz") == Access::kPublic);  // malformed: taken as is
  CHECK(ClassifyPath("/") == Access::kPublic);
}

TEST_CASE("credential formats: the prefix, then 64 lower-case hex digits") {
  const std::string hex(64, 'a');
  CHECK(CredentialFormatError("tp_fed_" + hex, kLicenseKeyPrefix).empty());
  CHECK(CredentialFormatError("ta_adm_0123456789abcdef" + std::string(48, 'f'),
                              kAdminTokenPrefix)
            .empty());
  CHECK(CredentialFormatError(hex, kLicenseKeyPrefix) == "does not start with tp_fed_");
  CHECK(CredentialFormatError("ta_adm_" + hex, kLicenseKeyPrefix) == "does not start with tp_fed_");
  CHECK(CredentialFormatError("tp_fed_", kLicenseKeyPrefix) ==
        "has 0 characters after tp_fed_, not 64");
  CHECK(CredentialFormatError("tp_fed_" + hex + "a", kLicenseKeyPrefix) ==
        "has 65 characters after tp_fed_, not 64");
  CHECK(CredentialFormatError("tp_fed_" + std::string(64, 'A'), kLicenseKeyPrefix) ==
        "has a character after tp_fed_ that is not a lower-case hex digit");
  CHECK(CredentialFormatError("tp_fed_" + std::string(63, 'a') + " ", kLicenseKeyPrefix) ==
        "has a character after tp_fed_ that is not a lower-case hex digit");
}

// Dispatches `path` with `authorization` ("" : none) through a router that has one admin and
// one public route, guarded by AddAccessControl with `context`; returns the status answered.
int Dispatch(RouteContext* context, std::string_view path, std::string_view authorization,
             int* handled) {
  Router router;
  const auto handler = [handled](Request&, Reply reply) {
    ++*handled;
    reply(JsonResponse(200, "{}"));
  };
  router.Add("POST", "/api/v1/admin/federation/drift-scan", handler);
  router.Add("GET", "/healthz", handler);
  AddAccessControl(&router, context);
  Request request;
  request.method = path == "/healthz" ? "GET" : "POST";
  request.target = std::string(path);
  if (!authorization.empty()) {
    request.headers.push_back({"authorization", std::string(authorization)});
  }
  int status = 0;
  router.Dispatch(&request, [&status](Response response) { status = response.status; });
  return status;
}

TEST_CASE("the guard answers admin requests before any handler runs") {
  const std::string token = "ta_adm_" + std::string(64, '7');
  const std::string path = "/api/v1/admin/federation/drift-scan";
  int handled = 0;
  RouteContext disabled;
  CHECK(Dispatch(&disabled, path, "Bearer " + token, &handled) == 403);
  CHECK(Dispatch(&disabled, "/healthz", "", &handled) == 200);
  CHECK(handled == 1);

  RouteContext context;
  context.options.admin_token_sha256 = {"not hex", ToHex(Sha256(token))};
  handled = 0;
  CHECK(Dispatch(&context, path, "", &handled) == 401);
  CHECK(Dispatch(&context, path, "Basic " + token, &handled) == 401);
  CHECK(Dispatch(&context, path, "Bearer ta_adm_" + std::string(64, '8'), &handled) == 403);
  CHECK(Dispatch(&context, "/api/v1/admin/nothing-here", "", &handled) == 401);
  CHECK(handled == 0);
  CHECK(Dispatch(&context, path, "Bearer " + token, &handled) == 200);
  CHECK(Dispatch(&context, path, "BEARER  " + token, &handled) == 200);
  CHECK(handled == 2);
  CHECK(Dispatch(&context, "/api/v1/admin/nothing-here", "Bearer " + token, &handled) == 404);
}

}  // namespace
}  // namespace annals::gateway
