#include "internal/tls.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "annals/base/assert.h"

namespace annals::gateway {
namespace {

// TLS 1.2's cipher suites: forward secrecy (ECDHE) and AEAD only. TLS 1.3 keeps OpenSSL's
// default suites, all of which are both.
constexpr const char* kTls12Ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";
// Sessions resumed by ticket or id must come from this server's own contexts (OpenSSL refuses
// to resume a session of a context that verifies clients without one).
constexpr std::string_view kSessionIdContext = "annalsd";

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};

// The reasons OpenSSL queued on this thread, oldest first, each once, "; "-joined; the queue
// is emptied.
std::string OpenSslErrors() {
  std::vector<std::string> reasons;
  while (const unsigned long error = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(error);
    std::string text = reason != nullptr ? reason : fmt::format("OpenSSL error {:#x}", error);
    if (std::find(reasons.begin(), reasons.end(), text) == reasons.end()) {
      reasons.push_back(std::move(text));
    }
  }
  if (reasons.empty()) return "no reason given";
  return fmt::format("{}", fmt::join(reasons, "; "));
}

// An error about the file of option `option`.
Status FileError(std::string_view option, const std::string& path, std::string_view what) {
  return Status::InvalidArgument(fmt::format("{}: '{}' {}", option, path, what));
}

// The file can be opened for reading; OpenSSL's own message for a missing file says less.
Status CheckReadable(std::string_view option, const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return FileError(option, path, fmt::format("cannot be read: {}", std::strerror(errno)));
  }
  std::fclose(file);
  return Status::Ok();
}

// Never asks for a passphrase (OpenSSL's default would read one from the terminal): an
// encrypted key fails to load.
int NoPassphrase(char*, int, int, void*) { return -1; }

Status LoadCertificateAndKey(SSL_CTX* ctx, const TlsOptions& options) {
  ANNALS_RETURN_IF_ERROR(CheckReadable("tls.cert", options.cert));
  ANNALS_RETURN_IF_ERROR(CheckReadable("tls.key", options.key));
  if (SSL_CTX_use_certificate_chain_file(ctx, options.cert.c_str()) != 1) {
    return FileError("tls.cert", options.cert,
                     "holds no PEM certificate chain (" + OpenSslErrors() + ")");
  }
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(options.key.c_str(), "r"));
  std::unique_ptr<EVP_PKEY, PkeyFree> key;
  if (bio != nullptr) key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    return FileError("tls.key", options.key,
                     "holds no unencrypted PEM private key (" + OpenSslErrors() + ")");
  }
  X509* leaf = SSL_CTX_get0_certificate(ctx);
  ANNALS_ASSERT(leaf != nullptr);  // the chain loaded
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return FileError(
        "tls.key", options.key,
        fmt::format("does not match the certificate of tls.cert ('{}')", options.cert));
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return FileError("tls.key", options.key, "cannot be used (" + OpenSslErrors() + ")");
  }
  return Status::Ok();
}

// The client CA bundle: the only certificates a client's chain may end at (the context trusts
// nothing else: no system store), advertised to clients in the CertificateRequest.
Status LoadClientCa(SSL_CTX* ctx, const std::string& path) {
  ANNALS_RETURN_IF_ERROR(CheckReadable("tls.client_ca", path));
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(path.c_str());
  if (names == nullptr || sk_X509_NAME_num(names) == 0) {
    if (names != nullptr) sk_X509_NAME_pop_free(names, X509_NAME_free);
    return FileError("tls.client_ca", path,
                     "holds no PEM CA certificate (" + OpenSslErrors() + ")");
  }
  SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
  if (SSL_CTX_load_verify_locations(ctx, path.c_str(), nullptr) != 1) {
    return FileError("tls.client_ca", path, "cannot be loaded (" + OpenSslErrors() + ")");
  }
  // Any certificate of the bundle is a trust anchor, an intermediate CA as well as a root: the
  // operator lists the CAs that sign peers, not necessarily their roots.
  X509_STORE_set_flags(SSL_CTX_get_cert_store(ctx), X509_V_FLAG_PARTIAL_CHAIN);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  return Status::Ok();
}

}  // namespace

Result<SslCtxPtr> MakeServerTlsContext(const TlsOptions& options) {
  ANNALS_ASSERT(options.enabled() && !options.key.empty());
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr) return Status::Internal("creating a TLS context: " + OpenSslErrors());
  // Constants this build of OpenSSL knows: a failure is a programmer error.
  const int min_version_set = SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  const int ciphers_set = SSL_CTX_set_cipher_list(ctx.get(), kTls12Ciphers);
  const int context_set = SSL_CTX_set_session_id_context(
      ctx.get(), reinterpret_cast<const unsigned char*>(kSessionIdContext.data()),
      kSessionIdContext.size());
  ANNALS_ASSERT(min_version_set == 1 && ciphers_set == 1 && context_set == 1);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                     SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_default_passwd_cb(ctx.get(), NoPassphrase);
  ANNALS_RETURN_IF_ERROR(LoadCertificateAndKey(ctx.get(), options));
  if (!options.client_ca.empty()) {
    ANNALS_RETURN_IF_ERROR(LoadClientCa(ctx.get(), options.client_ca));
  }
  return ctx;
}

ConnectionIdentity IdentityOf(SSL* ssl) {
  ConnectionIdentity identity;
  identity.tls = true;
  X509* cert = SSL_get0_peer_certificate(ssl);
  // A certificate that failed verification fails the handshake (SSL_VERIFY_PEER); the verify
  // result is checked again so that an unverified one can never count.
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return identity;
  identity.client_certificate = true;
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    identity.uri_sans.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                                   static_cast<size_t>(ASN1_STRING_length(uri)));
  }
  std::unique_ptr<BIO, BioFree> out(BIO_new(BIO_s_mem()));
  if (out != nullptr &&
      X509_NAME_print_ex(out.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(out.get(), &data);
    if (size > 0) identity.subject.assign(data, static_cast<size_t>(size));
  }
  ERR_clear_error();
  return identity;
}

}  // namespace annals::gateway
