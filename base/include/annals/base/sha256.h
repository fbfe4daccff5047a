// SHA-256 through OpenSSL's EVP interface. Digests are 32 raw bytes in a std::string.
//
// Thread-safety: the free functions are thread-safe. A Sha256 object is not: use one per thread
// (the ledger's writer keeps one, which saves a context allocation per event).
#pragma once

#include <string>
#include <string_view>

namespace annals {

inline constexpr size_t kSha256Size = 32;

// SHA-256 of the concatenation of `parts`.
std::string Sha256(std::string_view data);
std::string Sha256Concat(std::string_view a, std::string_view b);

// A reusable hashing context.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  // SHA-256(a || b).
  std::string Digest(std::string_view a, std::string_view b = {});

 private:
  void* ctx_;  // EVP_MD_CTX*, kept opaque so OpenSSL headers stay in sha256.cc
};

}  // namespace annals
