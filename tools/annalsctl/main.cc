// annalsctl: the command line of annals. `annalsctl --help` lists the commands; docs/cli.md
// describes each with its output and exit codes (commands.h).
#include <CLI/CLI.hpp>

#include "bench.h"
#include "commands.h"

int main(int argc, char** argv) {
  using namespace annals::tools;
  CLI::App app{"annalsctl: the annals event ledger's command line"};
  app.require_subcommand(1);
  GlobalOptions global;
  app.add_option("--data", global.data_dir, "data directory (the ledger is in DIR/ledger)")
      ->capture_default_str();
  app.add_option("--registry-name", global.registry_name,
                 "this registry's name (fixed when the ledger is created; default: local)");

  int code = kExitOk;

  AppendArgs append;
  auto* cmd = app.add_subcommand("append", "append one event (durable before it answers)");
  cmd->add_option("--type", append.type, "CloudEvents type")->required();
  cmd->add_option("--source", append.source, "CloudEvents source (a URI-reference)")->required();
  cmd->add_option("--id", append.id, "CloudEvents id")->required();
  cmd->add_option("--subject", append.subject, "CloudEvents subject (names the stream by default)");
  cmd->add_option("--stream", append.stream, "the stream (default: the subject, else none)");
  cmd->add_option("--data", append.data, "JSON data");
  cmd->add_option("--idempotency-key", append.idempotency_key,
                  "dedup key (default: '<source> <id>')");
  cmd->add_option("--expected-revision", append.expected_revision,
                  "any, no_stream, exists, or the stream's current revision");
  cmd->callback([&] { code = RunAppend(global, append); });

  std::string import_file;
  cmd = app.add_subcommand("import", "append CloudEvents JSON lines; one result line per line");
  cmd->add_option("file", import_file, "a file of JSON lines, or - for stdin")->required();
  cmd->callback([&] { code = RunImport(global, import_file); });

  ReadArgs read;
  cmd = app.add_subcommand("read", "print records as JSON lines");
  cmd->add_option("--from", read.from, "first position")->capture_default_str();
  cmd->add_option("--limit", read.limit, "at most this many records (default: to the head)");
  cmd->add_option("--stream", read.stream, "only this stream");
  cmd->add_option("--type", read.type, "only this type");
  cmd->callback([&] { code = RunRead(global, read); });

  cmd = app.add_subcommand("export", "print every event as CloudEvents JSON lines for import");
  cmd->callback([&] { code = RunExport(global); });

  cmd = app.add_subcommand("verify", "recompute every digest and the hash chain");
  cmd->callback([&] { code = RunVerify(global); });

  cmd = app.add_subcommand("stats", "counts, head and size on disk");
  cmd->callback([&] { code = RunStats(global); });

  cmd = app.add_subcommand("views", "each view: version, position, lag, state");
  cmd->callback([&] { code = RunViews(global); });

  RebuildArgs rebuild;
  cmd = app.add_subcommand("rebuild", "rebuild a view into a shadow and swap it in");
  cmd->add_option("view", rebuild.view, "the view (annalsctl views lists them)");
  cmd->add_flag("--all", rebuild.all, "every view");
  cmd->add_option("--to", rebuild.to, "fold only up to this position (default: the head)");
  cmd->callback([&] { code = RunRebuild(global, rebuild); });

  CheckArgs check;
  cmd = app.add_subcommand("check", "rebuild a view into a shadow and compare it with the live one");
  cmd->add_option("view", check.view, "the view");
  cmd->add_flag("--all", check.all, "every view");
  cmd->callback([&] { code = RunCheck(global, check); });

  DiscoverArgs discover;
  cmd = app.add_subcommand("discover", "ranked text search over local and federated agents");
  cmd->add_option("text", discover.text, "the query (empty: every agent)");
  cmd->add_option("--limit", discover.limit, "agents per page");
  cmd->add_option("--cursor", discover.cursor, "next_cursor of the previous page");
  cmd->callback([&] { code = RunDiscover(global, discover); });

  std::string did;
  cmd = app.add_subcommand("agent", "one agent by did");
  cmd->add_option("did", did, "the agent's did")->required();
  cmd->callback([&] { code = RunAgent(global, did); });

  cmd = app.add_subcommand("peers", "every peer");
  cmd->callback([&] { code = RunPeers(global); });

  std::string peer_id;
  cmd = app.add_subcommand("peer", "one peer");
  cmd->add_option("peer_id", peer_id, "the peer's id")->required();
  cmd->callback([&] { code = RunPeer(global, peer_id); });

  CardsArgs cards;
  cmd = app.add_subcommand("cards", "the agent-card feed: cards changed after a cursor");
  cmd->add_option("--since", cards.since, "next_cursor of the previous page (default: the start)");
  cmd->add_option("--limit", cards.limit, "cards per page");
  cmd->callback([&] { code = RunCards(global, cards); });

  std::string card_peer;
  cmd = app.add_subcommand("registry-card", "this registry's card with its ETag, or a peer's");
  cmd->add_option("peer_id", card_peer, "a peer (default: this registry)");
  cmd->callback([&] { code = RunRegistryCard(global, card_peer); });

  std::string compliance_peer;
  cmd = app.add_subcommand("compliance", "policy hashes, drift and quarantine of a peer (or all)");
  cmd->add_option("peer_id", compliance_peer, "the peer (default: every peer)");
  cmd->callback([&] { code = RunCompliance(global, compliance_peer); });

  SampleArgs sample;
  cmd = app.add_subcommand("sample", "print a generated registry history as CloudEvents JSON lines");
  cmd->add_option("--agents", sample.agents, "agents registered")->capture_default_str();
  cmd->add_option("--peers", sample.peers, "peers added")->capture_default_str();
  cmd->add_option("--seed", sample.seed, "the same seed gives the same history")->capture_default_str();
  cmd->callback([&] { code = RunSample(sample); });

  app.add_subcommand("token", "admin tokens for annalsd")
      ->require_subcommand(1)
      ->add_subcommand("new", "print a fresh admin token and its SHA-256 (admin_token_sha256)")
      ->callback([&] { code = RunTokenNew(); });

  BenchArgs bench;
  cmd = app.add_subcommand("bench", "benchmark the ledger against raw RocksDB in one run");
  cmd->add_flag("--quick", bench.quick, "a short run (within a minute)");
  cmd->add_flag("--json", bench.json, "print JSON instead of a table");
  cmd->add_option("--dir", bench.dir, "scratch directory (default: a fresh temp dir)");
  cmd->add_option("--only", bench.only, "run only these workloads (comma-separated)");
  cmd->add_option("--repeat", bench.repeat,
                  "run each workload N times and report the median run (1 to 99)")
      ->check(CLI::Range(1, 99));
  cmd->add_option("--sync-mode", bench.sync_mode, "the ledger's sync mode: pipelined or inline")
      ->capture_default_str();
  cmd->callback([&] { code = RunBench(bench); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;
  }
  return code;
}
