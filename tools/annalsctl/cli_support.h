// What every annalsctl command shares: printing, opening the ledger, mapping a Status to the
// exit code (commands.h).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "annals/base/status.h"
#include "annals/eventstore/ledger.h"
#include "commands.h"

namespace annals::tools {

// One line to stdout.
void PrintLine(const std::string& line);
// "annalsctl: <message>" to stderr.
void PrintError(const std::string& message);

// <data_dir>/ledger and <data_dir>/views.
std::string LedgerPath(const GlobalOptions& global);
std::string ViewsPath(const GlobalOptions& global);

// Opens the ledger; read-only opens do not take its lock (a server may be writing) and say
// clearly when there is no ledger.
Result<std::unique_ptr<eventstore::Ledger>> OpenLedger(const GlobalOptions& global, bool read_only);

// Opens the ledger and runs `body` on it; a ledger that cannot be opened is reported, exit 2.
int WithLedger(const GlobalOptions& global, bool read_only,
               const std::function<int(eventstore::Ledger&)>& body);

// kExitOk, or the error reported and kExitError.
int ExitFor(const Status& s);

}  // namespace annals::tools
