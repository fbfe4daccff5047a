// annalsd: the annals server. Opens the ledger (<data>/ledger), the views (<data>/views) and
// their runner, and serves the HTTP gateway until SIGTERM or SIGINT; then it stops accepting,
// lets requests in flight finish (every append in flight is answered), stops the views, closes
// the ledger (which acknowledges everything queued) and exits 0. docs/annalsd.md has the
// options, signals, logs and exit codes (0: stopped by a signal; 2: could not start).
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "annals/eventstore/ledger.h"
#include "annals/gateway/server.h"
#include "annals/gateway/webhook.h"
#include "annals/projections/registry_views.h"
#include "annals/projections/runner.h"
#include "annals/projections/views_db.h"
#include "annals/reactors/reactor.h"
#include "annals/reactors/replication.h"
#include "config.h"

namespace annals::annalsd {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitCannotStart = 2;

namespace es = annals::eventstore;
namespace pj = annals::projections;

// What runs; destroyed in the order that lets each part finish with the ones below it.
struct Services {
  std::unique_ptr<es::Ledger> ledger;
  std::unique_ptr<pj::ViewsDb> views_db;
  std::unique_ptr<pj::Runner> runner;
  std::unique_ptr<gateway::WebhookClient> webhooks;  // the webhook outbox's client
  std::unique_ptr<reactors::ReactorRunner> reactors;
  std::unique_ptr<reactors::Replication> replication;  // null: replication off
  std::unique_ptr<gateway::Server> server;
};

reactors::ReplicationOptions ReplicationOptionsOf(const Config& config, Services* s) {
  reactors::ReplicationOptions options;
  options.nats_url = config.nats_url;
  options.peers = config.peers;
  options.creds_file = config.nats_creds;
  options.tls_ca = config.nats_tls_ca;
  options.tls_cert = config.nats_tls_cert;
  options.tls_key = config.nats_tls_key;
  options.stream_replicas = config.stream_replicas;
  options.ledger = s->ledger.get();
  options.views = s->runner.get();
  return options;
}

Status StartServices(const Config& config, Services* s) {
  // Bad TLS files refuse the start before anything is opened or created.
  ANNALS_RETURN_IF_ERROR(gateway::CheckTlsFiles(config.gateway));
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) return Status::IOError("creating " + config.data_dir + ": " + ec.message());
  es::LedgerOptions ledger_options;
  ledger_options.path = config.data_dir + "/ledger";
  ledger_options.registry_name = config.registry_name;
  ANNALS_ASSIGN_OR_RETURN(s->ledger, es::Ledger::Open(ledger_options));
  ANNALS_ASSIGN_OR_RETURN(s->views_db, pj::ViewsDb::Open({.path = config.data_dir + "/views"}));
  pj::RunnerOptions runner_options;
  runner_options.ledger = s->ledger.get();
  runner_options.db = s->views_db.get();
  ANNALS_ASSIGN_OR_RETURN(s->runner, pj::Runner::Open(runner_options, pj::RegistryViews()));
  s->runner->Start();
  ANNALS_ASSIGN_OR_RETURN(s->webhooks, gateway::WebhookClient::Make({.ca_file = config.webhook_ca}));
  reactors::RegistryReactorOptions reactor_options;
  reactor_options.post_webhook = [client = s->webhooks.get()](std::string_view url,
                                                              std::string_view body,
                                                              std::string_view key) {
    return client->Post(url, body, key);
  };
  reactor_options.operator_webhook = config.operator_webhook;
  ANNALS_ASSIGN_OR_RETURN(
      s->reactors,
      reactors::ReactorRunner::Start(
          s->ledger.get(),
          reactors::RegistryReactors(s->ledger.get(), s->runner.get(), reactor_options)));
  if (!config.nats_url.empty()) {
    ANNALS_ASSIGN_OR_RETURN(s->replication,
                            reactors::Replication::Start(ReplicationOptionsOf(config, s)));
  }
  ANNALS_ASSIGN_OR_RETURN(s->server,
                          gateway::Server::Start(config.gateway,
                                                 {.ledger = s->ledger.get(),
                                                  .runner = s->runner.get(),
                                                  .reactors = s->reactors.get(),
                                                  .replication = s->replication.get()}));
  return Status::Ok();
}

// Stops in order: no new request; requests in flight answered; replication and reactors stopped
// (what they have in flight is resumed safely at the next start); views stopped; the ledger
// closed (everything queued acknowledged); then everything destroyed, the server first.
void StopServices(Services* s) {
  if (s->server) s->server->Stop();
  if (s->replication) s->replication->Stop();
  if (s->reactors) s->reactors->Stop();
  if (s->runner) s->runner->Stop();
  if (s->ledger) s->ledger->Close();
  s->server.reset();
  s->replication.reset();
  s->reactors.reset();
  s->runner.reset();
  if (s->views_db) {
    Status closed = s->views_db->Close();
    if (!closed.ok()) spdlog::error("closing the views: {}", closed.ToString());
  }
  s->views_db.reset();
  s->ledger.reset();
}

// SIGTERM and SIGINT are blocked in every thread (threads inherit the mask of the thread that
// starts them, so this runs before any is started) and taken by sigwait on main's thread: the
// shutdown then runs in order there, with no async-signal-safety constraints.
sigset_t StopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  return signals;
}

void BlockStopSignals() {
  const sigset_t signals = StopSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error code, not a death
}

// Blocks until SIGTERM or SIGINT; returns which.
int WaitForStopSignal() {
  const sigset_t signals = StopSignals();
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  return signal_number;
}

std::string Url(const Config& config, uint16_t port) {
  const std::string& host = config.gateway.host;
  const bool v6 = host.find(':') != std::string::npos;
  return fmt::format("{}://{}{}{}:{}", config.gateway.tls.enabled() ? "https" : "http",
                     v6 ? "[" : "", host, v6 ? "]" : "", port);
}

void SetUpLogging(const Config& config) {
  auto logger = spdlog::stderr_logger_mt("annalsd");
  logger->set_level(spdlog::level::from_str(config.log_level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

// Parses the command line into `sources`; returns -1 to go on, else the exit code (--help).
int ParseArgs(int argc, char** argv, ConfigSources* sources, bool* print_config) {
  CLI::App app{"annalsd: the annals server (docs/annalsd.md lists every option with its "
               "default, environment variable and config file key)"};
  std::map<std::string, std::string> values;
  app.add_option("--config", sources->file, "a TOML config file (env ANNALS_CONFIG)");
  app.add_flag("--print-config", *print_config,
               "print the configuration the other options give, as TOML, and exit");
  for (const OptionInfo& option : Options()) {
    CLI::Option* added =
        app.add_option("--" + option.flag, values[option.flag],
                       option.help + " (env " + option.env + ", key " + option.key + ")")
            ->default_str(option.default_value);
    if (option.list) {
      // Repeated flags join into one comma-separated list.
      added->multi_option_policy(CLI::MultiOptionPolicy::Join)->delimiter(',');
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints the help, or the error
    return code == 0 ? kExitOk : kExitCannotStart;
  }
  for (const OptionInfo& option : Options()) {
    if (app.get_option("--" + option.flag)->count() > 0) {
      sources->flags[option.flag] = values[option.flag];
    }
  }
  return -1;
}

int Run(int argc, char** argv) {
  ConfigSources sources;
  bool print_config = false;
  sources.env = ReadEnvironment();
  if (auto it = sources.env.find("config"); it != sources.env.end()) sources.file = it->second;
  if (int code = ParseArgs(argc, argv, &sources, &print_config); code >= 0) return code;
  auto config = LoadConfig(sources);
  if (!config.ok()) {
    std::fprintf(stderr, "annalsd: %s\n", config.status().ToString().c_str());
    return kExitCannotStart;
  }
  if (print_config) {
    std::fputs(ConfigToToml(*config).c_str(), stdout);
    return kExitOk;
  }
  BlockStopSignals();
  SetUpLogging(*config);

  Services services;
  Status started = StartServices(*config, &services);
  if (!started.ok()) {
    spdlog::error("cannot start: {}", started.ToString());
    StopServices(&services);
    return kExitCannotStart;
  }
  const std::string url = Url(*config, services.server->port());
  spdlog::info("serving {} from {} (registry {}, head {})", url, config->data_dir,
               services.ledger->registry_name(), services.ledger->GetHead().position);
  std::printf("annalsd listening on %s\n", url.c_str());
  std::fflush(stdout);

  const int signal_number = WaitForStopSignal();
  spdlog::info("stopping on {}: finishing requests in flight", strsignal(signal_number));
  StopServices(&services);
  spdlog::info("stopped");
  return kExitOk;
}

}  // namespace
}  // namespace annals::annalsd

int main(int argc, char** argv) { return annals::annalsd::Run(argc, argv); }
