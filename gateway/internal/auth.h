// Access control of the gateway (DESIGN.md, "Gateway (HTTP)"; gateway/README.md, "Auth"). Every
// request falls in one access class by its path (ClassifyPath), checked before routing
// (Router::SetGuard, installed by AddAccessControl in routes.h), so that a route added under a
// prefix is covered without its area knowing:
//
//   /api/v1/admin/...       admin: `Authorization: Bearer ta_adm_<64 hex>`, whose SHA-256 must be
//                           one of GatewayOptions::admin_token_sha256 (compared in constant time
//                           with every one). None configured: every admin request is 403; the
//                           admin routes are never open.
//   /api/v1/federation/...  federation, one of two credentials:
//                           - `X-Federation-License: tp_fed_<64 hex>`, whose SHA-256 (of the
//                             whole value) must be the key of a live license in the peers view
//                             (projections::LicenseByKeySha256) with status `active`, held by a
//                             peer whose status is neither SUSPENDED nor REVOKED;
//                           - without that header, a TLS client certificate the handshake
//                             verified against tls.client_ca (Request::connection): its one URI
//                             SAN must be a SPIFFE ID (spiffe://...) that is the spiffe_id of a
//                             peer in the peers view (projections::PeersBySpiffeId), and no peer
//                             with that SPIFFE ID may be SUSPENDED or REVOKED.
//                           Either way the view is first brought to the ledger's head as it was
//                           when the request arrived (at most kFederationAuthWaitMsMax, else
//                           503), so an event acknowledged before the request (a revocation, a
//                           suspension) is always seen. The header, when present, decides
//                           alone: a client chooses its credential per request.
//   anything else           public: no credentials asked.
//
// No credentials, or credentials that are not of the form above (a certificate without one
// SPIFFE ID among them): 401 problem `unauthorized` with WWW-Authenticate. Credentials refused
// (unknown, license suspended or revoked, peer suspended or revoked, a SPIFFE ID no peer has,
// admin routes disabled): 403 problem `forbidden`. Both name why in `detail` and in the `reason`
// member, never echo a secret (a SPIFFE ID is none: it is named), and reach no handler: a
// refused request writes nothing. A client certificate never opens admin routes; public routes
// ignore it.
//
// Thread-safety: free functions; the guard runs on any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "annals/base/status.h"
#include "internal/http.h"

namespace annals::gateway {

enum class Access : uint8_t {
  kPublic,
  kAdmin,       // /api/v1/admin and below
  kFederation,  // /api/v1/federation and below
};

// The access class of a request path (without the query). The path is percent-decoded first
// (a malformed encoding is taken as is), so that "/api/v1/%61dmin/x" is admin too: the router
// matches such a path to no route, but it never gets less protection than it spells.
Access ClassifyPath(std::string_view path);

// The credential formats: the prefix, then 64 lower-case hex digits (32 random bytes).
inline constexpr std::string_view kAdminTokenPrefix = "ta_adm_";
inline constexpr std::string_view kLicenseKeyPrefix = "tp_fed_";
inline constexpr size_t kCredentialHexDigits = 64;

// "" when `credential` is `prefix` followed by kCredentialHexDigits lower-case hex digits; else
// what is wrong with it, as the end of a sentence ("does not start with tp_fed_"), without
// repeating the credential.
std::string CredentialFormatError(std::string_view credential, std::string_view prefix);

// The SPIFFE ID a verified client certificate presents: its one URI SAN, which must start with
// kSpiffeScheme. InvalidArgument saying what is wrong (no certificate, no URI SAN, several, another
// scheme) as the end of a sentence ("has no URI subject alternative name").
inline constexpr std::string_view kSpiffeScheme = "spiffe://";
Result<std::string> CertificateSpiffeId(const ConnectionIdentity& connection);

}  // namespace annals::gateway
