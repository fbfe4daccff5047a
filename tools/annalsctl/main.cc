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

  BenchArgs bench;
  cmd = app.add_subcommand("bench", "benchmark the ledger against raw RocksDB in one run");
  cmd->add_flag("--quick", bench.quick, "a short run (within a minute)");
  cmd->add_flag("--json", bench.json, "print JSON instead of a table");
  cmd->add_option("--dir", bench.dir, "scratch directory (default: a fresh temp dir)");
  cmd->add_option("--only", bench.only, "run only these workloads (comma-separated)");
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
