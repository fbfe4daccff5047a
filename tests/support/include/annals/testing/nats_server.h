// A real nats-server (Debian's package) for the replication tests: JetStream on, storage in a
// directory the test owns, listening on a free loopback port, optionally one node of a cluster
// on loopback. Started as a child process; stopped (SIGKILL or SIGTERM) by the test, and killed
// by the destructor if still running. Its log goes to <store_dir>/nats.log.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "annals/testing/child_process.h"

namespace annals::testing {

struct NatsServerOptions {
  std::string store_dir;           // JetStream storage (required)
  int port = 0;                    // 0: a free one, kept across Restart
  // Cluster membership (all empty/0: a single server).
  std::string server_name;
  std::string cluster_name;
  int cluster_port = 0;
  std::vector<int> route_ports;    // the other nodes' cluster ports
  // TLS for clients (all empty: plain): the server's certificate and key, and the CA its
  // clients' certificates must chain to (set: a client certificate is required).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
};

class NatsServer {
 public:
  // Starts the server and waits (at most 10 s) until its client port accepts connections.
  explicit NatsServer(NatsServerOptions options);
  ~NatsServer();

  // "nats://127.0.0.1:<port>" ("tls://..." with TLS).
  std::string url() const;
  int port() const { return options_.port; }
  bool running() const { return child_ != nullptr; }
  // Stops it with `signal` and waits for the exit.
  void Stop(int signal);
  // Starts it again on the same port and storage.
  void Restart();

  // The nats-server binary (/usr/sbin/nats-server or /usr/bin/nats-server).
  static std::string Binary();

 private:
  void Launch();
  NatsServerOptions options_;
  std::unique_ptr<ChildProcess> child_;
};

// Three servers forming a JetStream cluster on loopback (names n1..n3, cluster "annals").
class NatsCluster {
 public:
  explicit NatsCluster(const std::string& dir);
  // "nats://127.0.0.1:p1,nats://127.0.0.1:p2,nats://127.0.0.1:p3".
  std::string urls() const;
  NatsServer& node(int i) { return *nodes_[i]; }

 private:
  std::vector<std::unique_ptr<NatsServer>> nodes_;
};

}  // namespace annals::testing
