// annalsd's configuration: every option with its default, read from (highest first) command-line
// flags, ANNALS_* environment variables, a TOML file (--config FILE or ANNALS_CONFIG), and the
// defaults below. docs/annalsd.md lists each option with its flag, variable and key; the one
// table in config.cc defines them, so the three sources cannot disagree on a name.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "annals/base/status.h"
#include "annals/gateway/server.h"

namespace annals::annalsd {

struct Config {
  std::string data_dir = "./annals-data";  // the ledger in <data>/ledger, views in <data>/views
  std::string listen = "127.0.0.1:8080";   // HOST:PORT ([v6]:PORT); port 0 picks a free one
  std::string registry_name;               // "": the ledger's stored name ("local" when new)
  std::string log_level = "info";          // trace, debug (access log), info, warn, error, off
  // TLS files, PEM paths (gateway::TlsOptions; copied into `gateway.tls` by LoadConfig). cert
  // and key together serve HTTPS only; client_ca (with them) asks clients for a certificate
  // that opens the federation routes. All "": plain HTTP.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // Replication over NATS JetStream (docs/replication.md): off without a NATS URL.
  std::string nats_url;
  std::vector<std::string> peers;  // registries to consume from
  std::string nats_creds;
  std::string nats_tls_ca;
  std::string nats_tls_cert;
  std::string nats_tls_key;
  int stream_replicas = 1;
  // The webhook outbox (docs/replication.md, "Reactors"): where drift is notified ("": no
  // operator notifications), and the CA bundle for https webhooks ("": the system's).
  std::string operator_webhook;
  std::string webhook_ca;
  // Threads, limits, timeouts and the admin token hashes; host and port come from `listen`,
  // the TLS files from tls_cert, tls_key and tls_client_ca.
  gateway::GatewayOptions gateway;
};

// One option: its TOML key ("limits.body_bytes_max"), its flag without dashes
// ("body-bytes-max"; the environment variable is ANNALS_ + the flag in upper case with '_'), and
// what it sets.
struct OptionInfo {
  std::string key;
  std::string flag;
  std::string env;
  std::string help;
  std::string default_value;  // as text, as --print-config shows it
  bool list = false;          // several values: comma-separated, or the flag repeated
};
const std::vector<OptionInfo>& Options();

// Where values come from. `flags` and `env` map an option's flag name ("body-bytes-max") to
// its text; `file` is a TOML file path ("" : none).
struct ConfigSources {
  std::string file;
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> flags;
};

// The environment variables of every option that are set (and ANNALS_CONFIG as "config").
std::map<std::string, std::string> ReadEnvironment();

// Defaults, then the file, then the environment, then the flags; then checks the whole.
// InvalidArgument names the option and the source of a bad value; an unknown key in the file
// is an error (a misspelt limit must not silently keep its default).
Result<Config> LoadConfig(const ConfigSources& sources);

// The configuration as a TOML file that LoadConfig reads back to the same values.
std::string ConfigToToml(const Config& config);

}  // namespace annals::annalsd
