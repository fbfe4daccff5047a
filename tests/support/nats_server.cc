#include "annals/testing/nats_server.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

#include "annals/base/loopback.h"
#include "annals/testing/test_util.h"

namespace annals::testing {

namespace {

// How long a started nats-server may take to listen. A cluster node recovering JetStream state
// on a loaded 2-core machine (the suite runs two tests at once) took more than 10 s once.
constexpr auto kListenWaitMax = std::chrono::seconds(30);

// The end of the server's log, for the error when it does not come up.
std::string LogTail(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  constexpr size_t kTailBytes = 2000;
  return text.size() > kTailBytes ? text.substr(text.size() - kTailBytes) : text;
}

std::string RouteUrls(const std::vector<int>& ports) {
  std::string urls;
  for (int port : ports) {
    if (!urls.empty()) urls += ",";
    urls += "nats://127.0.0.1:" + std::to_string(port);
  }
  return urls;
}

}  // namespace

std::string NatsServer::Binary() {
  for (const char* path : {"/usr/sbin/nats-server", "/usr/bin/nats-server"}) {
    if (access(path, X_OK) == 0) return path;
  }
  throw std::runtime_error("nats-server is not installed (tools/setup.sh installs it)");
}

NatsServer::NatsServer(NatsServerOptions options) : options_(std::move(options)) {
  if (options_.port == 0) options_.port = FreePort();
  std::filesystem::create_directories(options_.store_dir);
  Launch();
}

NatsServer::~NatsServer() = default;

void NatsServer::Launch() {
  std::vector<std::string> argv = {Binary(), "-js", "-sd", options_.store_dir, "-a", "127.0.0.1",
                                   "-p", std::to_string(options_.port), "-l",
                                   options_.store_dir + "/nats.log"};
  if (!options_.tls_cert.empty()) {
    argv.insert(argv.end(), {"--tls", "--tlscert", options_.tls_cert, "--tlskey", options_.tls_key});
  }
  if (!options_.tls_client_ca.empty()) {
    argv.insert(argv.end(), {"--tlsverify", "--tlscacert", options_.tls_client_ca});
  }
  if (!options_.cluster_name.empty()) {
    argv.insert(argv.end(), {"-n", options_.server_name, "--cluster_name", options_.cluster_name,
                             "--cluster", "nats://127.0.0.1:" + std::to_string(options_.cluster_port),
                             "--routes", RouteUrls(options_.route_ports)});
  }
  child_ = std::make_unique<ChildProcess>(argv);
  const auto deadline = std::chrono::steady_clock::now() + kListenWaitMax;
  while (std::chrono::steady_clock::now() < deadline) {
    if (LoopbackAccepts(options_.port)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error("nats-server did not listen on port " + std::to_string(options_.port) +
                           " within " + std::to_string(kListenWaitMax.count()) +
                           " s; the end of its log:\n" + LogTail(options_.store_dir + "/nats.log"));
}

std::string NatsServer::url() const {
  return (options_.tls_cert.empty() ? "nats://127.0.0.1:" : "tls://127.0.0.1:") +
         std::to_string(options_.port);
}

void NatsServer::Stop(int signal_number) {
  if (!child_) return;
  child_->Kill(signal_number);
  child_->Wait();
  child_.reset();
}

void NatsServer::Restart() {
  Stop(SIGKILL);
  Launch();
}

NatsCluster::NatsCluster(const std::string& dir) {
  const std::vector<int> cluster_ports = {FreePort(), FreePort(), FreePort()};
  for (int i = 0; i < 3; ++i) {
    NatsServerOptions options;
    options.store_dir = dir + "/n" + std::to_string(i + 1);
    options.server_name = "n" + std::to_string(i + 1);
    options.cluster_name = "annals";
    options.cluster_port = cluster_ports[i];
    for (int j = 0; j < 3; ++j) {
      if (j != i) options.route_ports.push_back(cluster_ports[j]);
    }
    nodes_.push_back(std::make_unique<NatsServer>(options));
  }
}

std::string NatsCluster::urls() const {
  std::string urls;
  for (const auto& node : nodes_) urls += (urls.empty() ? "" : ",") + node->url();
  return urls;
}

}  // namespace annals::testing
