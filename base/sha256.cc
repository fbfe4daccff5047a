#include "annals/base/sha256.h"

#include <openssl/evp.h>

#include "annals/base/assert.h"

namespace annals {

namespace {
// The SHA-256 implementation, fetched from OpenSSL's default provider once. `EVP_sha256()`
// would make every EVP_DigestInit_ex fetch it again (OpenSSL 3's implicit fetch: a provider
// lookup under a lock), which measured at half the cost of hashing a 500-byte event.
const EVP_MD* FetchedSha256() {
  static const EVP_MD* const kMd = [] {
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    ANNALS_ASSERT(md != nullptr);
    return md;  // kept for the life of the process
  }();
  return kMd;
}
}  // namespace

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new()) { ANNALS_ASSERT(ctx_ != nullptr); }

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

std::string Sha256Hasher::Digest(std::string_view a, std::string_view b) {
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  std::string out(kSha256Size, '\0');
  unsigned int size = 0;
  // These calls fail only on allocation failure or a broken OpenSSL: programmer-level errors.
  ANNALS_ASSERT(EVP_DigestInit_ex(ctx, FetchedSha256(), nullptr) == 1);
  ANNALS_ASSERT(EVP_DigestUpdate(ctx, a.data(), a.size()) == 1);
  if (!b.empty()) ANNALS_ASSERT(EVP_DigestUpdate(ctx, b.data(), b.size()) == 1);
  ANNALS_ASSERT(EVP_DigestFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()), &size) == 1);
  ANNALS_ASSERT(size == kSha256Size);
  return out;
}

std::string Sha256(std::string_view data) { return Sha256Concat(data, {}); }

std::string Sha256Concat(std::string_view a, std::string_view b) {
  thread_local Sha256Hasher hasher;
  return hasher.Digest(a, b);
}

}  // namespace annals
