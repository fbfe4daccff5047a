// cli_support.h: what every annalsctl command shares.
#include "cli_support.h"

#include <cstdio>
#include <filesystem>

namespace annals::tools {

namespace es = annals::eventstore;

void PrintLine(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
}

void PrintError(const std::string& message) { std::fprintf(stderr, "annalsctl: %s\n", message.c_str()); }

std::string LedgerPath(const GlobalOptions& global) { return global.data_dir + "/ledger"; }
std::string ViewsPath(const GlobalOptions& global) { return global.data_dir + "/views"; }

Result<std::unique_ptr<es::Ledger>> OpenLedger(const GlobalOptions& global, bool read_only) {
  es::LedgerOptions options;
  options.path = LedgerPath(global);
  options.registry_name = global.registry_name;
  options.read_only = read_only;
  if (read_only && !std::filesystem::exists(options.path + "/CURRENT")) {
    return Status::NotFound("no ledger at " + options.path +
                            " (append or import creates one; --data names the data directory)");
  }
  auto ledger = es::Ledger::Open(options);
  if (!ledger.ok() && read_only && ledger.status().code() != StatusCode::kUnavailable) {
    return Status(ledger.status().code(),
                  "no readable ledger at " + options.path + ": " + ledger.status().message());
  }
  return ledger;
}

int WithLedger(const GlobalOptions& global, bool read_only,
               const std::function<int(es::Ledger&)>& body) {
  auto ledger = OpenLedger(global, read_only);
  if (!ledger.ok()) {
    PrintError(ledger.status().ToString());
    return kExitError;
  }
  return body(**ledger);
}

int ExitFor(const Status& s) {
  if (s.ok()) return kExitOk;
  PrintError(s.ToString());
  return kExitError;
}

}  // namespace annals::tools
