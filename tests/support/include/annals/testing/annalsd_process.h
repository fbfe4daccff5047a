// A running annalsd for tests that speak HTTP to the real server: started as a child process
// on a free loopback port (--listen 127.0.0.1:0; the port is read from its "annalsd listening
// on http://HOST:PORT" line, https:// when it serves TLS), stopped with a signal.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "annals/testing/child_process.h"

namespace annals::testing {

struct AnnalsdOptions {
  std::string data_dir;            // --data; "" : none (annalsd's default)
  std::vector<std::string> args;   // further flags
  std::vector<std::string> env;    // "NAME=value" set for the child
  std::string cwd;                 // the child's working directory ("" : the test's)
  bool listen_any_port = true;     // pass --listen 127.0.0.1:0
};

class Annalsd {
 public:
  // Starts annalsd (from BinDir()) and waits for its listening line.
  explicit Annalsd(AnnalsdOptions options);
  // Kills (SIGKILL) a server still running.
  ~Annalsd() = default;

  // False when annalsd exited before listening (exit_code() says how).
  bool listening() const { return port_ > 0; }
  int port() const { return port_; }
  // The listening line as printed.
  const std::string& banner() const { return banner_; }
  // Sends `signal` and waits for the exit; returns the exit code.
  int Stop(int signal);
  ChildProcess& process() { return *child_; }

 private:
  std::unique_ptr<ChildProcess> child_;
  int port_ = 0;
  std::string banner_;
};

}  // namespace annals::testing
