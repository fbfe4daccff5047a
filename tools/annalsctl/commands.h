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

}  // namespace annals::tools
