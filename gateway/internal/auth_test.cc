// Goal: the access class of a path is decided by whole-segment prefixes, after percent-decoding;
// credentials are checked for their exact format; a client certificate's SPIFFE ID is its one
// spiffe:// URI SAN; and the router's guard (AddAccessControl) answers admin requests before any
// handler runs, letting only a configured token through (a client certificate never), and
// refuses federation requests whose certificate names no SPIFFE ID. Checking a license or a
// SPIFFE ID needs a ledger and the peers view: tests/gateway_auth_test.cc and
// tests/gateway_tls_test.cc have them.
#include "internal/auth.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

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

// A connection whose verified client certificate has these URI SANs.
ConnectionIdentity Certificate(std::vector<std::string> uri_sans) {
  return {.tls = true,
          .client_certificate = true,
          .uri_sans = std::move(uri_sans),
          .subject = "CN=frame-eu"};
}

TEST_CASE("a client certificate's SPIFFE ID is its one spiffe:// URI SAN") {
  const std::string id = "spiffe://frame-eu.example/registry";
  auto found = CertificateSpiffeId(Certificate({id}));
  REQUIRE(found.ok());
  CHECK(*found == id);
  const auto error = [](const ConnectionIdentity& connection) {
    auto r = CertificateSpiffeId(connection);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
    return r.status().message();
  };
  CHECK(error(Certificate({})) == "has no URI subject alternative name");
  CHECK(error(Certificate({id, id + "/2"})) == "has 2 URI subject alternative names, not one");
  CHECK(error(Certificate({"https://frame-eu.example"})).find("not a spiffe:// ID") !=
        std::string::npos);
  CHECK(error(Certificate({"spiffe://"})).find("not a spiffe:// ID") != std::string::npos);
  CHECK(error(Certificate({"SPIFFE://frame-eu.example/registry"})).find("not a spiffe:// ID") !=
        std::string::npos);
  // URI SANs of a certificate that did not verify (or of none) count for nothing.
  ConnectionIdentity unverified = Certificate({id});
  unverified.client_certificate = false;
  CHECK(error(unverified) == "is missing: the connection presented none");
  CHECK(error(ConnectionIdentity{}) == "is missing: the connection presented none");
}

// Dispatches `path` with `authorization` ("" : none), over `connection`, through a router that
// has one admin, one federation and one public route, guarded by AddAccessControl with
// `context`; returns the status answered.
int Dispatch(RouteContext* context, std::string_view path, std::string_view authorization,
             int* handled, const ConnectionIdentity& connection = {}) {
  Router router;
  const auto handler = [handled](Request&, Reply reply) {
    ++*handled;
    reply(JsonResponse(200, "{}"));
  };
  router.Add("POST", "/api/v1/admin/federation/drift-scan", handler);
  router.Add("GET", "/healthz", handler);
  router.Add("GET", "/api/v1/federation/peers", handler);
  AddAccessControl(&router, context);
  Request request;
  request.method = path == "/api/v1/admin/federation/drift-scan" ? "POST" : "GET";
  request.target = std::string(path);
  request.connection = connection;
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

TEST_CASE("a client certificate never opens admin routes; public routes ignore it") {
  const std::string token = "ta_adm_" + std::string(64, '7');
  const ConnectionIdentity peer = Certificate({"spiffe://frame-eu.example/registry"});
  RouteContext context;
  context.options.admin_token_sha256 = {ToHex(Sha256(token))};
  int handled = 0;
  CHECK(Dispatch(&context, "/api/v1/admin/federation/drift-scan", "", &handled, peer) == 401);
  CHECK(handled == 0);
  CHECK(Dispatch(&context, "/api/v1/admin/federation/drift-scan", "Bearer " + token, &handled,
                 peer) == 200);
  CHECK(Dispatch(&context, "/healthz", "", &handled, peer) == 200);
  CHECK(handled == 2);
}

TEST_CASE("a federation request whose certificate names no SPIFFE ID is 401, unhandled") {
  RouteContext context;
  context.options.tls = {.cert = "c.pem", .key = "k.pem", .client_ca = "ca.pem"};
  int handled = 0;
  for (const ConnectionIdentity& connection :
       {ConnectionIdentity{.tls = true}, Certificate({}), Certificate({"https://x.example"}),
        Certificate({"spiffe://a.example/r", "spiffe://b.example/r"})}) {
    CHECK(Dispatch(&context, "/api/v1/federation/peers", "", &handled, connection) == 401);
  }
  CHECK(handled == 0);
}

}  // namespace
}  // namespace annals::gateway
