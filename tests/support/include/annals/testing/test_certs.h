// Certificates for the TLS tests, made at run time with OpenSSL's C API (nothing is committed,
// so nothing expires): EC P-256 keys, SHA-256 signatures, valid from an hour ago for a day.
// Each is written as PEM files into a directory the test owns (a TempDir).
//
// Thread-safety: a TestCa may issue from one thread at a time.
#pragma once

#include <memory>
#include <string>

namespace annals::testing {

// A certificate and its private key, as PEM file paths.
struct CertFiles {
  std::string cert;
  std::string key;
};

class TestCa {
 public:
  // A self-signed CA with subject CN `name`; its files are <dir>/<name>.pem and .key.
  TestCa(const std::string& dir, const std::string& name);
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  // The CA's own certificate and key.
  const CertFiles& files() const { return files_; }

  // What a certificate it signs is for: its extended key usage.
  enum class Use { kServer, kClient };
  // A certificate for subject CN `name` signed by this CA, with the subject alternative names
  // `sans` in OpenSSL's syntax ("IP:127.0.0.1", "URI:spiffe://a.example/r,URI:...", "" : none);
  // its files are <dir>/<name>.pem and .key.
  CertFiles Issue(const std::string& name, const std::string& sans, Use use) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  CertFiles files_;
};

}  // namespace annals::testing
