#include "internal/auth.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "annals/base/assert.h"
#include "annals/base/coding.h"
#include "annals/base/sha256.h"
#include "annals/eventstore/ledger.h"
#include "annals/projections/peers.h"
#include "annals/projections/registry_views.h"
#include "annals/projections/runner.h"
#include "internal/problem.h"
#include "internal/routes.h"
#include "internal/uri.h"

namespace annals::gateway {
namespace {

constexpr std::string_view kAdminPrefix = "/api/v1/admin";
constexpr std::string_view kFederationPrefix = "/api/v1/federation";
constexpr std::string_view kLicenseHeader = "X-Federation-License";
constexpr std::string_view kBearerChallenge = "Bearer realm=\"annals admin\"";
constexpr std::string_view kLicenseChallenge =
    "FederationLicense realm=\"annals federation\", header=\"X-Federation-License\"";

// `path` is `prefix` or below it.
bool Under(std::string_view path, std::string_view prefix) {
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

// A refused request: 401 (with its challenge) or 403, `reason` a stable token clients may test.
Response Refusal(ProblemKind kind, std::string_view reason, std::string_view detail,
                 std::string_view challenge = {}) {
  Response response =
      Problem(kind, detail, [&](JsonWriter* out) { out->Member("reason", reason); });
  if (!challenge.empty()) response.headers.emplace_back("WWW-Authenticate", challenge);
  return response;
}

// The SHA-256 of each configured admin token, compared in constant time.
class AdminTokens {
 public:
  explicit AdminTokens(const std::vector<std::string>& sha256_hex) {
    for (const std::string& hex : sha256_hex) {
      std::string bytes;
      if (!FromHex(hex, &bytes) || bytes.size() != kSha256Size) {
        spdlog::error("admin_token_sha256: an entry is not 64 hex digits; it matches no token");
        continue;
      }
      std::array<unsigned char, kSha256Size> hash;
      std::copy(bytes.begin(), bytes.end(), hash.begin());
      hashes_.push_back(hash);
    }
  }

  bool enabled() const { return !hashes_.empty(); }
  size_t size() const { return hashes_.size(); }

  // Compares with every hash, whatever matched before: the time says nothing of which matched.
  bool Matches(std::string_view token) const {
    const std::string digest = Sha256(token);
    ANNALS_ASSERT(digest.size() == kSha256Size);
    bool match = false;
    for (const auto& hash : hashes_) {
      match |= CRYPTO_memcmp(hash.data(), digest.data(), kSha256Size) == 0;
    }
    return match;
  }

 private:
  std::vector<std::array<unsigned char, kSha256Size>> hashes_;
};

// The single value of header `name` (lower case), or a 401 saying what is missing or repeated.
std::optional<Response> SingleHeader(const Request& request, std::string_view name,
                                     std::string_view display, std::string_view challenge,
                                     std::string_view missing_detail, std::string_view* value) {
  const size_t count = request.header_count(name);
  if (count == 0) {
    return Refusal(ProblemKind::kUnauthorized, "missing-credentials", missing_detail, challenge);
  }
  if (count > 1) {
    return Refusal(ProblemKind::kUnauthorized, "malformed-credentials",
                   fmt::format("{} is given {} times; give it once", display, count), challenge);
  }
  *value = *request.header(name);
  return std::nullopt;
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::optional<Response> CheckAdmin(const AdminTokens& tokens, const Request& request) {
  if (!tokens.enabled()) {
    return Refusal(ProblemKind::kForbidden, "admin-disabled",
                   "admin routes are disabled: configure admin_token_sha256");
  }
  std::string_view value;
  if (auto refusal = SingleHeader(request, "authorization", "Authorization", kBearerChallenge,
                                  "admin routes need Authorization: Bearer <token> (annalsctl "
                                  "token new makes a token and its hash)",
                                  &value)) {
    return refusal;
  }
  const size_t space = value.find(' ');
  if (space == std::string_view::npos || !EqualsIgnoringCase(value.substr(0, space), "Bearer")) {
    return Refusal(ProblemKind::kUnauthorized, "malformed-credentials",
                   "the Authorization header must be Bearer <token>", kBearerChallenge);
  }
  std::string_view token = value.substr(space);
  token.remove_prefix(std::min(token.find_first_not_of(' '), token.size()));
  if (const std::string error = CredentialFormatError(token, kAdminTokenPrefix); !error.empty()) {
    return Refusal(ProblemKind::kUnauthorized, "malformed-credentials",
                   fmt::format("the bearer token {}; an admin token is {} followed by {} "
                               "lower-case hex digits",
                               error, kAdminTokenPrefix, kCredentialHexDigits),
                   kBearerChallenge);
  }
  if (!tokens.Matches(token)) {
    return Refusal(ProblemKind::kForbidden, "unknown-token",
                   "the bearer token is not an admin token of this server (its SHA-256 is not "
                   "in admin_token_sha256)");
  }
  return std::nullopt;
}

// What a federation request presents, read on the I/O thread and checked on the blocking pool.
struct FederationCredential {
  std::string key_sha256;  // a license key's SHA-256, hex; "" when a certificate is presented
  std::string spiffe_id;   // a verified client certificate's SPIFFE ID; "" with a license key
};

// The credential of a federation request, or a 401 saying what is missing or malformed: the
// license header when present, else a verified client certificate.
std::optional<Response> ReadFederationCredential(const GatewayOptions& options,
                                                 const Request& request,
                                                 FederationCredential* credential) {
  if (request.header_count("x-federation-license") == 0 && request.connection.client_certificate) {
    auto spiffe_id = CertificateSpiffeId(request.connection);
    if (!spiffe_id.ok()) {
      return Refusal(ProblemKind::kUnauthorized, "malformed-credentials",
                     fmt::format("the client certificate ({}) {}; a peer's certificate names its "
                                 "SPIFFE ID in its one URI subject alternative name",
                                 request.connection.subject, spiffe_id.status().message()),
                     kLicenseChallenge);
    }
    credential->spiffe_id = std::move(spiffe_id).value();
    return std::nullopt;
  }
  const std::string missing =
      options.tls.client_ca.empty()
          ? fmt::format("federation routes need the header {}: tp_fed_<64 hex>", kLicenseHeader)
          : fmt::format("federation routes need the header {}: tp_fed_<64 hex>, or a TLS client "
                        "certificate signed by a peer CA of tls.client_ca",
                        kLicenseHeader);
  std::string_view key;
  if (auto refusal = SingleHeader(request, "x-federation-license", kLicenseHeader,
                                  kLicenseChallenge, missing, &key)) {
    return refusal;
  }
  if (const std::string error = CredentialFormatError(key, kLicenseKeyPrefix); !error.empty()) {
    return Refusal(ProblemKind::kUnauthorized, "malformed-credentials",
                   fmt::format("{} {}; a license key is {} followed by {} lower-case hex digits",
                               kLicenseHeader, error, kLicenseKeyPrefix, kCredentialHexDigits),
                   kLicenseChallenge);
  }
  credential->key_sha256 = ToHex(Sha256(key));
  return std::nullopt;
}

// 403 when the peer's status shuts it out (SUSPENDED, REVOKED); INACTIVE and DRIFT peers pass.
std::optional<Response> PeerStatusRefusal(std::string_view peer_id, std::string_view status) {
  if (status != "SUSPENDED" && status != "REVOKED") return std::nullopt;
  std::string reason = "peer-" + std::string(status);
  for (char& c : reason) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return Refusal(ProblemKind::kForbidden, reason, fmt::format("peer {} is {}", peer_id, status));
}

// The license of `key_sha256`: a refusal, or nullopt when it lets the request through.
std::optional<Response> CheckLicense(const projections::ViewReader& peers,
                                     const std::string& key_sha256) {
  auto grant = projections::LicenseByKeySha256(peers, key_sha256);
  if (!grant.ok()) {
    if (grant.status().code() != StatusCode::kNotFound) return StatusProblem(grant.status());
    return Refusal(ProblemKind::kForbidden, "unknown-license",
                   "no live license has this key (never issued, replaced by another license, "
                   "or its peer removed)");
  }
  if (grant->status != "active") {
    return Refusal(ProblemKind::kForbidden, "license-" + grant->status,
                   fmt::format("license {} of peer {} is {}", grant->license_id, grant->peer_id,
                               grant->status));
  }
  return PeerStatusRefusal(grant->peer_id, grant->peer_status);
}

// The peers a certificate's SPIFFE ID names: a refusal unless at least one does and none of
// them is shut out (a SPIFFE ID shared by a suspended peer and another opens nothing).
std::optional<Response> CheckPeerCertificate(const projections::ViewReader& peers,
                                             const std::string& spiffe_id) {
  auto named = projections::PeersBySpiffeId(peers, spiffe_id);
  if (!named.ok()) return StatusProblem(named.status());
  if (named->empty()) {
    return Refusal(ProblemKind::kForbidden, "unknown-peer",
                   fmt::format("no peer has the SPIFFE ID {} of the client certificate "
                               "(registry.peer.added.v1 sets a peer's spiffe_id)",
                               spiffe_id));
  }
  for (const projections::PeerIdentity& peer : *named) {
    if (auto refusal = PeerStatusRefusal(peer.peer_id, peer.status)) return refusal;
  }
  return std::nullopt;
}

// Checks `credential` on the peers view once it has folded `head` (at most
// kFederationAuthWaitMsMax): a refusal, or nullopt when it lets the request through. Blocks
// (view wait, reads).
std::optional<Response> CheckFederationCredential(projections::Runner* runner,
                                                  const FederationCredential& credential,
                                                  uint64_t head) {
  namespace pj = projections;
  const uint64_t reached = runner->WaitFor(pj::kPeersView, head,
                                           std::chrono::milliseconds(kFederationAuthWaitMsMax));
  auto reader = runner->Reader(pj::kPeersView);
  if (!reader.ok()) return StatusProblem(reader.status());
  if (reached < head || reader->position() < head) {
    return Problem(ProblemKind::kUnavailable,
                   fmt::format("federation credentials cannot be checked: the peers view is at "
                               "position {}, behind the ledger's head {}",
                               reader->position(), head));
  }
  ANNALS_ASSERT(credential.key_sha256.empty() != credential.spiffe_id.empty());
  if (!credential.key_sha256.empty()) return CheckLicense(*reader, credential.key_sha256);
  return CheckPeerCertificate(*reader, credential.spiffe_id);
}

// Routes `request` from a blocking-pool thread, answering 500 when the handler throws (as the
// session does on an I/O thread; a handler that throws after replying is a bug, which the
// session's one-reply assertion names). `reply` is passed on unwrapped: a handler may look
// behind it for its session (std::function::target), as a streaming response does.
void RouteCaught(const Handler& route, Request& request, const Reply& reply) {
  try {
    route(request, reply);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: {}", request.method, request.target, e.what());
    reply(Problem(ProblemKind::kInternal, e.what()));
  }
}

// Reads the credential on the I/O thread, checks it on the blocking pool (the view wait and
// reads must not hold an I/O thread), then routes the request from there.
void CheckFederation(RouteContext* context, Request& request, const Reply& reply,
                     const Handler& route) {
  FederationCredential credential;
  if (auto refusal = ReadFederationCredential(context->options, request, &credential)) {
    return reply(std::move(*refusal));
  }
  const uint64_t head = context->ledger->GetHead().position;
  auto held = std::make_shared<Request>(std::move(request));
  context->run_blocking([context, held, reply, route, credential = std::move(credential), head] {
    if (auto refusal = CheckFederationCredential(context->runner, credential, head)) {
      return reply(std::move(*refusal));
    }
    RouteCaught(route, *held, reply);
  });
}

}  // namespace

Access ClassifyPath(std::string_view path) {
  const std::optional<std::string> decoded = PercentDecode(path, /*plus_is_space=*/false);
  const std::string_view p = decoded ? std::string_view(*decoded) : path;
  if (Under(p, kAdminPrefix)) return Access::kAdmin;
  if (Under(p, kFederationPrefix)) return Access::kFederation;
  return Access::kPublic;
}

std::string CredentialFormatError(std::string_view credential, std::string_view prefix) {
  if (!credential.starts_with(prefix)) return fmt::format("does not start with {}", prefix);
  const std::string_view hex = credential.substr(prefix.size());
  if (hex.size() != kCredentialHexDigits) {
    return fmt::format("has {} characters after {}, not {}", hex.size(), prefix,
                       kCredentialHexDigits);
  }
  std::string bytes;
  if (!FromHex(hex, &bytes) || ToHex(bytes) != hex) {
    return fmt::format("has a character after {} that is not a lower-case hex digit", prefix);
  }
  return "";
}

Result<std::string> CertificateSpiffeId(const ConnectionIdentity& connection) {
  if (!connection.client_certificate) {
    return Status::InvalidArgument("is missing: the connection presented none");
  }
  if (connection.uri_sans.empty()) {
    return Status::InvalidArgument("has no URI subject alternative name");
  }
  if (connection.uri_sans.size() > 1) {
    return Status::InvalidArgument(fmt::format("has {} URI subject alternative names, not one",
                                               connection.uri_sans.size()));
  }
  const std::string& uri = connection.uri_sans.front();
  if (!uri.starts_with(kSpiffeScheme) || uri.size() == kSpiffeScheme.size()) {
    return Status::InvalidArgument(
        fmt::format("has the URI subject alternative name {}, which is not a {} ID", uri,
                    kSpiffeScheme));
  }
  return uri;
}

void AddAccessControl(Router* router, RouteContext* context) {
  auto admin = std::make_shared<const AdminTokens>(context->options.admin_token_sha256);
  if (admin->enabled()) {
    spdlog::info("admin routes: {} admin token hash(es) configured", admin->size());
  } else {
    spdlog::info("admin routes are disabled (403): no admin_token_sha256 configured");
  }
  router->SetGuard([context, admin](Request& request, const Reply& reply, const Handler& route) {
    switch (ClassifyPath(request.path())) {
      case Access::kPublic: return route(request, reply);
      case Access::kAdmin:
        if (auto refusal = CheckAdmin(*admin, request)) return reply(std::move(*refusal));
        return route(request, reply);
      case Access::kFederation: return CheckFederation(context, request, reply, route);
    }
  });
}

}  // namespace annals::gateway
