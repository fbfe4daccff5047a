// annalsctl token new: a fresh admin token for annalsd and the SHA-256 that annalsd stores
// (option admin_token_sha256, docs/annalsd.md). The token is shown once, here; annalsd never
// sees it until a client presents it, and keeps only the hash.
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <string>

#include "annals/base/coding.h"
#include "annals/base/json_writer.h"
#include "annals/base/sha256.h"
#include "cli_support.h"
#include "commands.h"

namespace annals::tools {
namespace {

// The admin token format the gateway accepts (gateway/internal/auth.h): this prefix, then the
// random bytes in lower-case hex.
constexpr std::string_view kAdminTokenPrefix = "ta_adm_";
constexpr int kAdminTokenRandomBytes = 32;

}  // namespace

int RunTokenNew() {
  unsigned char random[kAdminTokenRandomBytes];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    PrintError("token new: OpenSSL RAND_bytes failed (error " +
               std::to_string(ERR_get_error()) + "): no token made");
    return kExitError;
  }
  const std::string token =
      std::string(kAdminTokenPrefix) +
      ToHex(std::string_view(reinterpret_cast<const char*>(random), sizeof(random)));
  OPENSSL_cleanse(random, sizeof(random));
  JsonWriter w;
  w.BeginObject().Member("token", token).Member("sha256", ToHex(Sha256(token))).EndObject();
  PrintLine(w.Release());
  return kExitOk;
}

}  // namespace annals::tools
