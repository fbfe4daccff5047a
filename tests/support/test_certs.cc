#include "annals/testing/test_certs.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "annals/base/assert.h"

namespace annals::testing {
namespace {

constexpr long kValidFromSeconds = -3600;  // an hour ago: a clock a little behind still agrees
constexpr long kValidForSeconds = 24 * 3600;

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertFree {
  void operator()(X509* cert) const { X509_free(cert); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

// Serial numbers unique within the process (a verifier may cache by issuer and serial).
long NextSerial() {
  static std::atomic<long> serial{1};
  return serial.fetch_add(1);
}

// Adds extension `nid` with OpenSSL's text `value` ("critical,CA:TRUE"); `issuer` signs `cert`.
void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  ANNALS_ASSERT_MSG(extension != nullptr, value.c_str());
  ANNALS_ASSERT(X509_add_ext(cert, extension, -1) == 1);
  X509_EXTENSION_free(extension);
}

// An unsigned certificate for `key` with subject CN `name`, valid for a day.
Cert NewCertificate(EVP_PKEY* key, const std::string& name) {
  Cert cert(X509_new());
  ANNALS_ASSERT(cert != nullptr);
  ANNALS_ASSERT(X509_set_version(cert.get(), 2) == 1);  // v3
  ANNALS_ASSERT(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), NextSerial()) == 1);
  ANNALS_ASSERT(X509_gmtime_adj(X509_getm_notBefore(cert.get()), kValidFromSeconds) != nullptr);
  ANNALS_ASSERT(X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValidForSeconds) != nullptr);
  ANNALS_ASSERT(X509_set_pubkey(cert.get(), key) == 1);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  ANNALS_ASSERT(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                           reinterpret_cast<const unsigned char*>(name.c_str()),
                                           -1, -1, 0) == 1);
  return cert;
}

void WritePem(const std::string& path, const std::function<int(std::FILE*)>& write) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  ANNALS_ASSERT_MSG(file != nullptr, path.c_str());
  const int written = write(file);
  ANNALS_ASSERT_MSG(written == 1 && std::fclose(file) == 0, path.c_str());
}

CertFiles WriteFiles(const std::string& dir, const std::string& name, X509* cert, EVP_PKEY* key) {
  CertFiles files{dir + "/" + name + ".pem", dir + "/" + name + ".key"};
  WritePem(files.cert, [&](std::FILE* f) { return PEM_write_X509(f, cert); });
  WritePem(files.key, [&](std::FILE* f) {
    return PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
  return files;
}

Key NewKey() {
  Key key(EVP_EC_gen("P-256"));
  ANNALS_ASSERT(key != nullptr);
  return key;
}

}  // namespace

struct TestCa::Impl {
  std::string dir;
  Key key;
  Cert cert;
};

TestCa::TestCa(const std::string& dir, const std::string& name) : impl_(std::make_unique<Impl>()) {
  impl_->dir = dir;
  impl_->key = NewKey();
  impl_->cert = NewCertificate(impl_->key.get(), name);
  X509* cert = impl_->cert.get();
  ANNALS_ASSERT(X509_set_issuer_name(cert, X509_get_subject_name(cert)) == 1);
  AddExtension(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExtension(cert, cert, NID_subject_key_identifier, "hash");
  ANNALS_ASSERT(X509_sign(cert, impl_->key.get(), EVP_sha256()) > 0);
  files_ = WriteFiles(dir, name, cert, impl_->key.get());
}

TestCa::~TestCa() = default;

CertFiles TestCa::Issue(const std::string& name, const std::string& sans, Use use) const {
  Key key = NewKey();
  Cert cert = NewCertificate(key.get(), name);
  X509* issuer = impl_->cert.get();
  ANNALS_ASSERT(X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer)) == 1);
  AddExtension(cert.get(), issuer, NID_basic_constraints, "critical,CA:FALSE");
  AddExtension(cert.get(), issuer, NID_key_usage, "critical,digitalSignature");
  AddExtension(cert.get(), issuer, NID_ext_key_usage,
               use == Use::kServer ? "serverAuth" : "clientAuth");
  AddExtension(cert.get(), issuer, NID_authority_key_identifier, "keyid");
  if (!sans.empty()) AddExtension(cert.get(), issuer, NID_subject_alt_name, sans);
  ANNALS_ASSERT(X509_sign(cert.get(), impl_->key.get(), EVP_sha256()) > 0);
  return WriteFiles(impl_->dir, name, cert.get(), key.get());
}

}  // namespace annals::testing
