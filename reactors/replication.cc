#include "annals/reactors/replication.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <set>

#include "annals/base/json_writer.h"
#include "annals/reactors/limits.h"
#include "internal/consumer.h"
#include "internal/nats_event.h"
#include "internal/nats_handles.h"
#include "internal/publisher.h"

namespace annals::reactors {
namespace es = annals::eventstore;
using internal::NatsError;
using internal::NatsPtr;

namespace {

constexpr int64_t kReconnectWaitMs = 250;
constexpr int64_t kConnectTimeoutMs = 2000;
constexpr int64_t kPingIntervalMs = 2000;

std::vector<std::string> SplitUrls(const std::string& urls) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= urls.size()) {
    const size_t comma = urls.find(',', start);
    std::string url = urls.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!url.empty()) out.push_back(std::move(url));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

std::string ReplicationStatusJson(const ReplicationStatus& status) {
  JsonWriter w;
  const PublisherStatus& p = status.publisher;
  w.BeginObject()
      .Member("registry", status.registry)
      .Member("nats_url", status.nats_url)
      .Member("connected", status.connected)
      .Key("publisher")
      .BeginObject()
      .Member("stream", p.stream)
      .Member("state", p.state)
      .Member("position", p.position)
      .Member("ledger_head", status.ledger_head)
      .Member("behind", status.ledger_head > p.position ? status.ledger_head - p.position
                                                         : uint64_t{0})
      .Member("stream_sequence", p.stream_sequence)
      .Member("published", p.published)
      .Member("duplicates", p.duplicates)
      .Member("errors", p.errors)
      .Member("last_error", p.last_error)
      .EndObject();
  w.Key("peers").BeginArray();
  for (const PeerReplicationStatus& c : status.peers) {
    w.BeginObject()
        .Member("peer", c.peer)
        .Member("stream", c.stream)
        .Member("consumer", c.consumer)
        .Member("state", c.state);
    w.Key("lag");
    if (c.lag) {
      w.Uint(*c.lag);
    } else {
      w.Null();
    }
    w.Member("last_peer_position", c.last_peer_position)
        .Member("last_stream_sequence", c.last_stream_sequence)
        .Member("last_local_position", c.last_local_position)
        .Member("appended", c.appended)
        .Member("duplicates", c.duplicates)
        .Key("refused")
        .BeginObject()
        .Member("malformed", c.refused_malformed)
        .Member("peer_not_active", c.refused_peer_not_active)
        .EndObject()
        .Member("last_refusal", c.last_refusal)
        .Member("errors", c.errors)
        .Member("last_error", c.last_error)
        .EndObject();
  }
  w.EndArray().EndObject();
  return w.Release();
}

Status ValidateReplicationOptions(const ReplicationOptions& options) {
  if (options.ledger == nullptr || options.views == nullptr) {
    return Status::InvalidArgument("replication needs the ledger and the views");
  }
  if (SplitUrls(options.nats_url).empty()) {
    return Status::InvalidArgument("nats_url must name at least one server (nats://host:port)");
  }
  const std::string& registry = options.ledger->registry_name();
  if (!internal::IsReplicableRegistryName(registry)) {
    return Status::InvalidArgument(fmt::format(
        "registry name '{}' cannot replicate: use 1 to {} characters of a-z, 0-9, '-' and '_', "
        "starting with a letter or digit (set it with --registry-name when the ledger is created)",
        registry, kRegistryNameBytesMax));
  }
  if (options.peers.size() > kPeersMax) {
    return Status::InvalidArgument(fmt::format("{} peers; at most {}", options.peers.size(), kPeersMax));
  }
  std::set<std::string> seen;
  for (const std::string& peer : options.peers) {
    if (!internal::IsReplicableRegistryName(peer)) {
      return Status::InvalidArgument(fmt::format(
          "peer '{}': a peer's registry name is 1 to {} characters of a-z, 0-9, '-' and '_'",
          peer, kRegistryNameBytesMax));
    }
    if (peer == registry) return Status::InvalidArgument("peer '" + peer + "' is this registry");
    if (!seen.insert(peer).second) return Status::InvalidArgument("peer '" + peer + "' is named twice");
  }
  if (options.stream_replicas < 1 || options.stream_replicas > 5) {
    return Status::InvalidArgument("stream replicas must be from 1 to 5");
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return Status::InvalidArgument("NATS TLS needs both a client certificate and its key, or neither");
  }
  return Status::Ok();
}

class Replication::Impl {
 public:
  explicit Impl(ReplicationOptions options) : options_(std::move(options)) {}

  Status Connect() {
    natsOptions* raw = nullptr;
    if (natsStatus s = natsOptions_Create(&raw); s != NATS_OK) {
      return Status::Internal("NATS options: " + NatsError(s));
    }
    NatsPtr<natsOptions> nats_options(raw);
    const std::vector<std::string> urls = SplitUrls(options_.nats_url);
    std::vector<const char*> servers;
    for (const std::string& url : urls) servers.push_back(url.c_str());
    const std::string name = "annals-" + options_.ledger->registry_name();
    natsStatus s = natsOptions_SetServers(raw, servers.data(), static_cast<int>(servers.size()));
    if (s == NATS_OK) s = natsOptions_SetName(raw, name.c_str());
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(raw, -1);  // forever
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(raw, kReconnectWaitMs);
    if (s == NATS_OK) s = natsOptions_SetTimeout(raw, kConnectTimeoutMs);
    if (s == NATS_OK) s = natsOptions_SetPingInterval(raw, kPingIntervalMs);
    // With a callback the first connect is asynchronous too: annalsd starts and serves while
    // NATS is unreachable or refuses it (without one, nats.c retries inside Connect).
    if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(raw, true, &OnConnected, nullptr);
    if (s == NATS_OK && !options_.creds_file.empty()) {
      s = natsOptions_SetUserCredentialsFromFiles(raw, options_.creds_file.c_str(), nullptr);
    }
    if (s == NATS_OK && !options_.tls_ca.empty()) {
      s = natsOptions_SetSecure(raw, true);
      if (s == NATS_OK) s = natsOptions_LoadCATrustedCertificates(raw, options_.tls_ca.c_str());
    }
    if (s == NATS_OK && !options_.tls_cert.empty()) {
      s = natsOptions_LoadCertificatesChain(raw, options_.tls_cert.c_str(), options_.tls_key.c_str());
    }
    if (s != NATS_OK) return Status::InvalidArgument("NATS options: " + NatsError(s));
    natsConnection* connection = nullptr;
    s = natsConnection_Connect(&connection, raw);
    if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
      return Status::Unavailable("connecting to " + options_.nats_url + ": " + NatsError(s));
    }
    if (s == NATS_NOT_YET_CONNECTED) {
      spdlog::warn("NATS at {} is not reachable yet: retrying in the background", options_.nats_url);
    }
    connection_.reset(connection);
    return Status::Ok();
  }

  // Runs on nats.c's callback thread, which may run it after Close and Destroy (it holds its
  // own reference to the connection, not to this Impl): it reads only the connection.
  static void OnConnected(natsConnection* connection, void*) {
    char url[256] = "";
    natsConnection_GetConnectedUrl(connection, url, sizeof(url));
    spdlog::info("replication: connected to NATS at {}", url);
  }

  void StartWorkers() {
    const std::string& registry = options_.ledger->registry_name();
    publisher_ = std::make_unique<internal::Publisher>(connection_.get(), options_.ledger, registry,
                                                       options_.stream_replicas);
    publisher_->Start();
    for (const std::string& peer : options_.peers) {
      consumers_.push_back(std::make_unique<internal::Consumer>(
          connection_.get(), options_.ledger, options_.views, registry, peer));
      consumers_.back()->Start();
    }
    spdlog::info("replication: publishing {} to {}, consuming from {} peer(s)", registry,
                 internal::StreamName(registry), options_.peers.size());
  }

  // Stops the threads and closes the connection; the objects stay until the destructor, so
  // that GetStatus, from any thread, sees them stopped rather than destroyed under it.
  // Idempotent.
  void Stop() {
    for (auto& consumer : consumers_) consumer->Stop();
    if (publisher_) publisher_->Stop();  // no PubAck callback runs for it after this
    if (connection_) natsConnection_Close(connection_.get());
  }

  ~Impl() {
    Stop();
    consumers_.clear();
    publisher_.reset();
    connection_.reset();
  }

  ReplicationStatus Snapshot() const {
    ReplicationStatus status;
    status.registry = options_.ledger->registry_name();
    status.nats_url = options_.nats_url;
    status.connected =
        connection_ && natsConnection_Status(connection_.get()) == NATS_CONN_STATUS_CONNECTED;
    status.ledger_head = options_.ledger->GetHead().position;
    if (publisher_) status.publisher = publisher_->status();
    for (const auto& consumer : consumers_) status.peers.push_back(consumer->status());
    return status;
  }

 private:
  ReplicationOptions options_;
  NatsPtr<natsConnection> connection_;
  std::unique_ptr<internal::Publisher> publisher_;
  std::vector<std::unique_ptr<internal::Consumer>> consumers_;
};

Result<std::unique_ptr<Replication>> Replication::Start(ReplicationOptions options) {
  ANNALS_RETURN_IF_ERROR(ValidateReplicationOptions(options));
  auto impl = std::make_unique<Impl>(std::move(options));
  ANNALS_RETURN_IF_ERROR(impl->Connect());
  impl->StartWorkers();
  return std::unique_ptr<Replication>(new Replication(std::move(impl)));
}

Replication::Replication(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Replication::~Replication() { Stop(); }
void Replication::Stop() { impl_->Stop(); }
ReplicationStatus Replication::GetStatus() const { return impl_->Snapshot(); }

}  // namespace annals::reactors
