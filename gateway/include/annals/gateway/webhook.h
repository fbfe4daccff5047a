// Webhook delivery for the outbox (reactors, "webhook-outbox"; docs/replication.md): one HTTP or
// HTTPS POST of a CloudEvent in structured mode (application/cloudevents+json), answered within
// a timeout. A 2xx answer is a delivery; anything else (no connection, a TLS failure, a
// timeout, another status) is not, and says why. Redirects are not followed: a webhook's
// target is the operator's to fix.
//
// HTTPS: TLS 1.2 or later, the server's certificate verified against `ca_file` (or the
// system's CAs) and matched to the target's host name.
//
// Thread-safety: Post may be called from any thread, concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "annals/base/status.h"

namespace annals::gateway {

// How long one delivery attempt may take, connection and TLS handshake included.
inline constexpr std::chrono::milliseconds kWebhookTimeoutMs{5000};
// Bytes of a webhook answer's header read at most (its status is all that counts; its body is
// not read).
inline constexpr uint32_t kWebhookAnswerHeaderBytesMax = 16 << 10;

struct WebhookOptions {
  std::string ca_file;  // PEM CA bundle for https targets; "": the system's
  std::chrono::milliseconds timeout = kWebhookTimeoutMs;
};

class WebhookClient {
 public:
  // InvalidArgument naming the file when `ca_file` cannot be loaded.
  static Result<std::unique_ptr<WebhookClient>> Make(const WebhookOptions& options);
  ~WebhookClient();
  WebhookClient(const WebhookClient&) = delete;
  WebhookClient& operator=(const WebhookClient&) = delete;

  // POSTs `cloudevent_json` to `url` with the header Idempotency-Key: `key` (a target may see a
  // notification twice: delivery is at least once). Ok on a 2xx answer. InvalidArgument when
  // `url` is not an http:// or https:// URL (retrying cannot help); Unavailable otherwise.
  Status Post(std::string_view url, std::string_view cloudevent_json, std::string_view key);

 private:
  struct Impl;
  explicit WebhookClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace annals::gateway
