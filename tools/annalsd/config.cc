#include "config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <limits>
#include <toml++/toml.h>

#include "annals/base/coding.h"
#include "annals/base/json_writer.h"
#include "annals/base/sha256.h"

namespace annals::annalsd {
namespace {

// One option: what Options() shows, and how its value is set from text and shown as text.
struct OptionSpec {
  OptionInfo info;
  bool numeric = false;
  bool list = false;  // a TOML array of strings; comma-separated in a flag or variable
  std::function<Status(Config*, const std::string& text)> set;
  std::function<std::string(const Config&)> get;
};

// "limits.body_bytes_max" -> "body-bytes-max", "replication.nats_url" -> "nats-url",
// "webhooks.operator_webhook" -> "operator-webhook".
std::string FlagOf(std::string_view key) {
  for (std::string_view section : {"limits.", "replication.", "webhooks."}) {
    if (key.starts_with(section)) key.remove_prefix(section.size());
  }
  std::string flag(key);
  std::replace(flag.begin(), flag.end(), '.', '-');
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

std::string EnvOf(std::string_view flag) {
  std::string env = "ANNALS_";
  for (char c : flag) env.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(c)));
  return env;
}

OptionInfo Info(std::string key, std::string help) {
  std::string flag = FlagOf(key);
  std::string env = EnvOf(flag);
  return {std::move(key), std::move(flag), std::move(env), std::move(help)};
}

OptionSpec Text(std::string key, std::string help, std::string Config::*member) {
  OptionSpec spec;
  spec.info = Info(std::move(key), std::move(help));
  spec.set = [member](Config* c, const std::string& text) {
    c->*member = text;
    return Status::Ok();
  };
  spec.get = [member](const Config& c) { return c.*member; };
  return spec;
}

// A whole number in [min, max] held in the field `field` selects.
template <typename T>
OptionSpec Number(std::string key, std::string help, T& (*field)(Config&), uint64_t min,
                  uint64_t max = std::numeric_limits<T>::max()) {
  OptionSpec spec;
  spec.info = Info(std::move(key), std::move(help));
  spec.numeric = true;
  spec.set = [field, min, max, name = spec.info.key](Config* c, const std::string& text) {
    uint64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
      const std::string range = max == std::numeric_limits<T>::max()
                                    ? fmt::format("of at least {}", min)
                                    : fmt::format("from {} to {}", min, max);
      return Status::InvalidArgument(
          fmt::format("{} must be a whole number {}, not '{}'", name, range, text));
    }
    field(*c) = static_cast<T>(value);
    return Status::Ok();
  };
  spec.get = [field](const Config& c) {
    Config copy = c;  // the selector hands out a mutable reference
    return std::to_string(field(copy));
  };
  return spec;
}

// Splits comma-separated text into its items, spaces around them dropped ("" : none).
std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> items;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    items.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

// The admin token hashes: SHA-256 hex digests (annalsctl token new prints one), kept in lower
// case, at most gateway::kAdminTokenHashesMax.
OptionSpec AdminTokenHashes() {
  OptionSpec spec;
  spec.info = Info("admin_token_sha256",
                   "SHA-256 hex of each admin token (comma-separated; annalsctl token new makes "
                   "one); none: the admin routes answer 403");
  spec.list = true;
  spec.set = [name = spec.info.key](Config* c, const std::string& text) {
    std::vector<std::string> hashes;
    for (const std::string& item : SplitList(text)) {
      std::string bytes;
      if (!FromHex(item, &bytes) || bytes.size() != kSha256Size) {
        return Status::InvalidArgument(fmt::format(
            "{} must list SHA-256 digests of 64 hex digits, not '{}'", name, item));
      }
      hashes.push_back(ToHex(bytes));
    }
    if (hashes.size() > gateway::kAdminTokenHashesMax) {
      return Status::InvalidArgument(fmt::format("{} lists {} hashes; at most {} are allowed",
                                                 name, hashes.size(),
                                                 gateway::kAdminTokenHashesMax));
    }
    c->gateway.admin_token_sha256 = std::move(hashes);
    return Status::Ok();
  };
  spec.get = [](const Config& c) {
    return fmt::format("{}", fmt::join(c.gateway.admin_token_sha256, ","));
  };
  return spec;
}

// The peers replication consumes from: registry names (docs/replication.md).
OptionSpec Peers() {
  OptionSpec spec;
  spec.info = Info("replication.peer",
                   "a registry to replicate from (repeat the flag, or comma-separate); each must "
                   "be an ACTIVE peer in the peers view for its events to be accepted");
  spec.list = true;
  spec.set = [](Config* c, const std::string& text) {
    c->peers.clear();
    for (std::string& item : SplitList(text)) {
      if (!item.empty()) c->peers.push_back(std::move(item));
    }
    return Status::Ok();
  };
  spec.get = [](const Config& c) { return fmt::format("{}", fmt::join(c.peers, ",")); };
  return spec;
}

const std::vector<OptionSpec>& Specs() {
  static const std::vector<OptionSpec> specs = [] {
    constexpr uint64_t kMsMax = 24ull * 3600 * 1000;  // a day: any larger timeout is a mistake
    std::vector<OptionSpec> s;
    s.push_back(Text("data", "data directory: the ledger in DIR/ledger, the views in DIR/views",
                     &Config::data_dir));
    s.push_back(Text("listen", "HOST:PORT to serve HTTP on ([v6 address]:PORT; port 0: any free)",
                     &Config::listen));
    s.push_back(Text("registry_name",
                     "this registry's name, fixed when the ledger is created (\"\": the stored "
                     "one, \"local\" for a new ledger)",
                     &Config::registry_name));
    s.push_back(Text("log_level", "trace, debug (adds the access log), info, warn, error or off",
                     &Config::log_level));
    s.push_back(Number<size_t>("io_threads", "threads serving connections (0: one per core)",
                               +[](Config& c) -> size_t& { return c.gateway.io_threads; }, 0,
                               1024));
    s.push_back(Number<size_t>("blocking_threads", "threads for ledger reads and bounded waits",
                               +[](Config& c) -> size_t& { return c.gateway.blocking_threads; },
                               1, 1024));
    s.push_back(AdminTokenHashes());  // before the first table: ConfigToToml prints it bare
    s.push_back(Text("tls.cert", "PEM certificate chain for HTTPS (with tls.key: HTTPS only)",
                     &Config::tls_cert));
    s.push_back(Text("tls.key", "PEM private key of tls.cert, unencrypted", &Config::tls_key));
    s.push_back(Text("tls.client_ca",
                     "PEM CA bundle that signs peers' client certificates (mutual TLS for the "
                     "federation routes; needs tls.cert)",
                     &Config::tls_client_ca));
    s.push_back(Number<size_t>("limits.body_bytes_max", "request body bytes; more: 413",
                               +[](Config& c) -> size_t& { return c.gateway.body_bytes_max; },
                               1));
    s.push_back(Number<uint32_t>("limits.header_bytes_max",
                                 "request line and header bytes; more: 431",
                                 +[](Config& c) -> uint32_t& {
                                   return c.gateway.header_bytes_max;
                                 },
                                 1024));
    s.push_back(Number<size_t>("limits.connections_max", "open connections; one more: 503",
                               +[](Config& c) -> size_t& { return c.gateway.connections_max; },
                               1));
    s.push_back(Number<uint32_t>("limits.idle_timeout_ms",
                                 "an idle keep-alive connection is closed after this",
                                 +[](Config& c) -> uint32_t& { return c.gateway.idle_timeout_ms; },
                                 1, kMsMax));
    s.push_back(Number<uint32_t>("limits.request_timeout_ms",
                                 "a request's headers and body must arrive within this (and a "
                                 "response be taken within it); else the connection is closed",
                                 +[](Config& c) -> uint32_t& {
                                   return c.gateway.request_timeout_ms;
                                 },
                                 1, kMsMax));
    s.push_back(Number<size_t>("limits.page_size_max", "records in one page of a read (limit=)",
                               +[](Config& c) -> size_t& { return c.gateway.page_size_max; }, 1,
                               eventstore::kReadPageEventsMax));
    s.push_back(Number<uint32_t>("limits.min_position_wait_ms_max",
                                 "the longest a min_position read waits for a view",
                                 +[](Config& c) -> uint32_t& {
                                   return c.gateway.min_position_wait_ms_max;
                                 },
                                 0, kMsMax));
    s.push_back(Number<uint32_t>("limits.stop_drain_ms",
                                 "on SIGTERM, how long requests in flight get to finish",
                                 +[](Config& c) -> uint32_t& { return c.gateway.stop_drain_ms; },
                                 0, kMsMax));
    s.push_back(Number<size_t>("limits.sse_connections_max", "open event streams; one more: 503",
                               +[](Config& c) -> size_t& { return c.gateway.sse_connections_max; },
                               1));
    s.push_back(Number<size_t>("limits.sse_queue_bytes_max",
                               "bytes queued for one event stream; a client slower than that is "
                               "disconnected",
                               +[](Config& c) -> size_t& { return c.gateway.sse_queue_bytes_max; },
                               4096));
    s.push_back(Number<uint32_t>("limits.sse_heartbeat_ms",
                                 "an event stream idle this long gets a \": ping\" comment",
                                 +[](Config& c) -> uint32_t& { return c.gateway.sse_heartbeat_ms; },
                                 1, kMsMax));
    s.push_back(Number<uint32_t>("limits.tls_handshake_timeout_ms",
                                 "a TLS connection must finish its handshake within this; else "
                                 "it is closed",
                                 +[](Config& c) -> uint32_t& {
                                   return c.gateway.tls_handshake_timeout_ms;
                                 },
                                 1, kMsMax));
    s.push_back(Text("replication.nats_url",
                     "NATS server URL(s), comma-separated (nats://host:port); \"\": replication "
                     "off",
                     &Config::nats_url));
    s.push_back(Peers());
    s.push_back(Text("replication.nats_creds", "NATS credentials file (.creds); \"\": none",
                     &Config::nats_creds));
    s.push_back(Text("replication.nats_tls_ca",
                     "PEM CA bundle that signs the NATS servers (turns TLS to NATS on)",
                     &Config::nats_tls_ca));
    s.push_back(Text("replication.nats_tls_cert", "PEM client certificate for NATS",
                     &Config::nats_tls_cert));
    s.push_back(Text("replication.nats_tls_key", "PEM key of nats_tls_cert", &Config::nats_tls_key));
    s.push_back(Number<int>("replication.stream_replicas",
                            "replicas of this registry's JetStream stream (3 on a cluster)",
                            +[](Config& c) -> int& { return c.stream_replicas; }, 1, 5));
    s.push_back(Text("webhooks.operator_webhook",
                     "http(s) URL the operator is notified at when drift is detected; \"\": "
                     "none",
                     &Config::operator_webhook));
    s.push_back(Text("webhooks.webhook_ca",
                     "PEM CA bundle that signs https webhook targets; \"\": the system's",
                     &Config::webhook_ca));
    return s;
  }();
  return specs;
}

const OptionSpec* FindByKey(std::string_view key) {
  for (const auto& spec : Specs()) {
    if (spec.info.key == key) return &spec;
  }
  return nullptr;
}

// A TOML value as the text Set reads; an error when its type does not suit the option.
Result<std::string> TomlText(const OptionSpec& spec, const toml::node& node) {
  if (spec.numeric) {
    if (auto n = node.value<int64_t>(); n && node.is_integer()) {
      if (*n < 0) return Status::InvalidArgument(spec.info.key + " must not be negative");
      return std::to_string(*n);
    }
    return Status::InvalidArgument(spec.info.key + " must be an integer");
  }
  if (const toml::array* array = node.as_array(); array && spec.list) {
    std::string text;
    for (const toml::node& item : *array) {
      auto value = item.value<std::string>();
      if (!value || !item.is_string() || value->find(',') != std::string::npos) {
        return Status::InvalidArgument(spec.info.key + " must be an array of strings");
      }
      text += (text.empty() ? "" : ",") + *value;
    }
    return text;
  }
  if (auto text = node.value<std::string>(); text && node.is_string()) return *text;
  return Status::InvalidArgument(
      spec.info.key + (spec.list ? " must be an array of strings" : " must be a string"));
}

Status ApplyTable(const toml::table& table, const std::string& prefix, Config* config) {
  for (const auto& [name, node] : table) {
    const std::string key = prefix + std::string(name.str());
    if (const toml::table* nested = node.as_table()) {
      ANNALS_RETURN_IF_ERROR(ApplyTable(*nested, key + ".", config));
      continue;
    }
    const OptionSpec* spec = FindByKey(key);
    if (spec == nullptr) {
      return Status::InvalidArgument("unknown option '" + key + "' (docs/annalsd.md lists them)");
    }
    ANNALS_ASSIGN_OR_RETURN(std::string text, TomlText(*spec, node));
    ANNALS_RETURN_IF_ERROR(spec->set(config, text));
  }
  return Status::Ok();
}

Status ApplyFile(const std::string& path, Config* config) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return Status::InvalidArgument(fmt::format("line {}, column {}: {}", where.line,
                                               where.column, e.description()));
  } catch (const std::exception& e) {
    return Status::InvalidArgument(e.what());
  }
  return ApplyTable(table, "", config);
}

// Applies the values of `texts` (by flag name); `source` says where they came from.
Status ApplyTexts(const std::map<std::string, std::string>& texts, std::string_view source,
                  Config* config) {
  for (const auto& spec : Specs()) {
    const auto it = texts.find(spec.info.flag);
    if (it == texts.end()) continue;
    Status s = spec.set(config, it->second);
    if (!s.ok()) {
      return s.WithContext(source == "env" ? spec.info.env : "--" + spec.info.flag);
    }
  }
  return Status::Ok();
}

// HOST:PORT or [HOST]:PORT into the gateway's host and port.
Status ParseListen(Config* config) {
  const std::string& listen = config->listen;
  const size_t colon = listen.rfind(':');
  auto bad = [&] {
    return Status::InvalidArgument("listen must be HOST:PORT such as 127.0.0.1:8080 or "
                                   "[::1]:8080, not '" + listen + "'");
  };
  if (colon == std::string::npos || colon == 0) return bad();
  std::string host = listen.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad();
    host = host.substr(1, host.size() - 2);
  }
  const std::string port = listen.substr(colon + 1);
  uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value > 65535) {
    return bad();
  }
  config->gateway.host = host;
  config->gateway.port = static_cast<uint16_t>(value);
  return Status::Ok();
}

Status Check(Config* config) {
  if (config->data_dir.empty()) return Status::InvalidArgument("data must not be empty");
  ANNALS_RETURN_IF_ERROR(ParseListen(config));
  static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn",
                                                 "error", "critical", "off"};
  if (std::find(std::begin(kLevels), std::end(kLevels), config->log_level) == std::end(kLevels)) {
    return Status::InvalidArgument("log_level must be trace, debug, info, warn, error, critical "
                                   "or off, not '" + config->log_level + "'");
  }
  config->gateway.tls = {.cert = config->tls_cert,
                         .key = config->tls_key,
                         .client_ca = config->tls_client_ca};
  if (!config->peers.empty() && config->nats_url.empty()) {
    return Status::InvalidArgument("replication.peer is set but replication is off: set "
                                   "replication.nats_url (--nats-url) too");
  }
  const std::string& hook = config->operator_webhook;
  if (!hook.empty() && hook.rfind("http://", 0) != 0 && hook.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("webhooks.operator_webhook must be an http:// or https:// URL");
  }
  return gateway::ValidateGatewayOptions(config->gateway);
}

}  // namespace

const std::vector<OptionInfo>& Options() {
  static const std::vector<OptionInfo> options = [] {
    std::vector<OptionInfo> out;
    const Config defaults;
    for (const auto& spec : Specs()) {
      out.push_back(spec.info);
      out.back().default_value = spec.get(defaults);
      out.back().list = spec.list;
    }
    return out;
  }();
  return options;
}

std::map<std::string, std::string> ReadEnvironment() {
  std::map<std::string, std::string> env;
  for (const auto& spec : Specs()) {
    if (const char* value = std::getenv(spec.info.env.c_str())) env[spec.info.flag] = value;
  }
  if (const char* file = std::getenv("ANNALS_CONFIG")) env["config"] = file;
  return env;
}

Result<Config> LoadConfig(const ConfigSources& sources) {
  Config config;
  if (!sources.file.empty()) {
    Status s = ApplyFile(sources.file, &config);
    if (!s.ok()) return s.WithContext("config file " + sources.file);
  }
  ANNALS_RETURN_IF_ERROR(ApplyTexts(sources.env, "env", &config));
  ANNALS_RETURN_IF_ERROR(ApplyTexts(sources.flags, "flags", &config));
  ANNALS_RETURN_IF_ERROR(Check(&config));
  return config;
}

std::string ConfigToToml(const Config& config) {
  std::string out;
  std::string table;
  for (const auto& spec : Specs()) {
    const std::string& key = spec.info.key;
    const size_t dot = key.find('.');
    const std::string section = dot == std::string::npos ? "" : key.substr(0, dot);
    if (section != table) {
      out += "\n[" + section + "]\n";
      table = section;
    }
    out += key.substr(dot == std::string::npos ? 0 : dot + 1) + " = ";
    const std::string value = spec.get(config);
    if (spec.numeric) {
      out += value;
    } else if (spec.list) {
      out += "[";
      for (const std::string& item : SplitList(value)) {
        if (out.back() != '[') out += ", ";
        AppendJsonString(&out, item);
      }
      out += "]";
    } else {
      AppendJsonString(&out, value);  // a TOML basic string uses the same escapes
    }
    out += "\n";
  }
  return out;
}

}  // namespace annals::annalsd
