// annalsctl's commands. Each Run* function does one subcommand, prints JSON lines to stdout and
// clear messages to stderr, and returns the process exit code:
//   0  success
//   1  the command ran and something was refused or found wrong (a refused event, a corrupt
//      ledger): the JSON output says what
//   2  the command could not run (bad arguments, the ledger could not be opened, I/O errors)
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace annals::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;
inline constexpr int kExitError = 2;

struct GlobalOptions {
  std::string data_dir = "./annals-data";  // the ledger lives in <data_dir>/ledger
  std::string registry_name;               // "": the stored one ("local" for a new ledger)
};

struct AppendArgs {
  std::string type, source, id, subject, stream, data, idempotency_key;
  std::string expected_revision;  // "" / "any", "no_stream", "exists", or a number
};
int RunAppend(const GlobalOptions& global, const AppendArgs& args);

// Reads CloudEvents JSON lines from `file` ("-": stdin).
int RunImport(const GlobalOptions& global, const std::string& file);

struct ReadArgs {
  uint64_t from = 1;
  std::optional<uint64_t> limit;  // nullopt: to the head
  std::string stream, type;
};
int RunRead(const GlobalOptions& global, const ReadArgs& args);
int RunExport(const GlobalOptions& global);
int RunVerify(const GlobalOptions& global);
int RunStats(const GlobalOptions& global);

// The views (view_commands.cc). Queries and check first fold the views up to the head when no
// server holds <data>/views.
int RunViews(const GlobalOptions& global);
struct RebuildArgs {
  std::string view;  // one view, or
  bool all = false;  // every view
  std::optional<uint64_t> to;  // stop at this position (default: the head)
};
int RunRebuild(const GlobalOptions& global, const RebuildArgs& args);
struct CheckArgs {
  std::string view;
  bool all = false;
};
int RunCheck(const GlobalOptions& global, const CheckArgs& args);
struct DiscoverArgs {
  std::string text;
  std::optional<size_t> limit;  // default: the agents view's
  std::string cursor;
};
int RunDiscover(const GlobalOptions& global, const DiscoverArgs& args);
int RunAgent(const GlobalOptions& global, const std::string& did);
int RunPeers(const GlobalOptions& global);
int RunPeer(const GlobalOptions& global, const std::string& peer_id);
struct CardsArgs {
  std::string since;  // "": from the start
  std::optional<size_t> limit;
};
int RunCards(const GlobalOptions& global, const CardsArgs& args);
// peer_id "": this registry's own card.
int RunRegistryCard(const GlobalOptions& global, const std::string& peer_id);
// peer_id "": every peer.
int RunCompliance(const GlobalOptions& global, const std::string& peer_id);

// Prints a generated registry history as CloudEvents JSON lines (sample_events.h).
struct SampleArgs {
  uint64_t agents = 1000;
  uint64_t peers = 5;
  uint64_t seed = 1;
};
int RunSample(const SampleArgs& args);

// `token new` (token_command.cc): a fresh admin token and its SHA-256, one JSON line.
int RunTokenNew();

}  // namespace annals::tools
