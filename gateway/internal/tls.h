// The gateway's TLS on OpenSSL 3, apart from Asio: the server's context built from its files,
// and what a finished handshake says about the client. server.cc wraps the context in
// Boost.Asio's ssl::context and runs the handshakes.
//
// The context: TLS 1.2 at least (1.3 preferred: OpenSSL picks the highest both sides speak),
// TLS 1.2 limited to ECDHE key exchange with AEAD ciphers, no renegotiation, no compression.
// With a client CA bundle the server asks every client for a certificate (SSL_VERIFY_PEER
// without FAIL_IF_NO_PEER_CERT): none is fine, one that does not chain to the bundle fails the
// handshake (the client gets an alert, the connection closes, no request is read).
//
// Thread-safety: free functions. A context is used by many connections at once (OpenSSL
// allows it once it is built).
#pragma once

#include <openssl/ssl.h>

#include <memory>

#include "annals/base/status.h"
#include "annals/gateway/server.h"
#include "internal/http.h"

namespace annals::gateway {

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// The server's context from `options` (enabled()): the certificate chain and key loaded, the
// key checked against the certificate, the client CA bundle loaded and advertised.
// InvalidArgument naming the option and the file ("tls.key: '/etc/k.pem' does not match the
// certificate of tls.cert"); an encrypted key is refused (annalsd asks for no passphrase).
Result<SslCtxPtr> MakeServerTlsContext(const TlsOptions& options);

// The identity of the client of `ssl`, whose server handshake has finished: tls true, and the
// client's certificate when it sent one that verified (internal/http.h).
ConnectionIdentity IdentityOf(SSL* ssl);

}  // namespace annals::gateway
