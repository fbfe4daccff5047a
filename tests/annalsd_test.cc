// Goal: annalsd runs as docs/annalsd.md says. With no options it uses the embedded defaults
// (./annals-data under its working directory, 127.0.0.1:8080); a TOML file, ANNALS_* variables
// and flags set every option with the precedence flags > environment > file > defaults; bad
// configuration (an unknown key, a bad value, a TLS certificate without its key; the TLS
// files themselves: tests/gateway_tls_test.cc) stops it with exit code 2 and a message naming
// the option; every option it knows is documented. And SIGTERM with appends in flight: it
// exits 0, and after a restart every append it acknowledged is in the ledger at the position
// it was acknowledged with.
#include <doctest/doctest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "annals/testing/annalsd_process.h"
#include "annals/testing/child_process.h"
#include "annals/testing/http_client.h"
#include "annals/testing/test_util.h"
#include "gateway_test_util.h"

namespace annals::testing {
namespace {

// Runs annalsd to completion with `env` ("NAME=value") and `args`.
CommandResult RunAnnalsd(const std::vector<std::string>& env, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/env"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.push_back(BinDir() + "/annalsd");
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  REQUIRE(out.good());
}

bool HasLine(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST_CASE("the embedded defaults, and a start with no data option") {
  const CommandResult defaults = RunAnnalsd({}, {"--print-config"});
  REQUIRE(defaults.exit_code == 0);
  CHECK(HasLine(defaults.out, "data = \"./annals-data\""));
  CHECK(HasLine(defaults.out, "listen = \"127.0.0.1:8080\""));
  CHECK(HasLine(defaults.out, "log_level = \"info\""));
  CHECK(HasLine(defaults.out, "body_bytes_max = 25165824"));
  CHECK(HasLine(defaults.out, "connections_max = 10000"));
  CHECK(HasLine(defaults.out, "page_size_max = 10000"));

  TempDir cwd;
  Annalsd annalsd({.cwd = cwd.path()});
  REQUIRE(annalsd.listening());
  HttpClient client(annalsd.port());
  REQUIRE(client.Post("/api/v1/events", EventJson("d1"), kStructured).status == 201);
  CHECK(std::filesystem::exists(cwd.Sub("annals-data/ledger/CURRENT")));
  CHECK(std::filesystem::exists(cwd.Sub("annals-data/views/CURRENT")));
  CHECK(annalsd.Stop(SIGINT) == 0);
}

TEST_CASE("flags over environment over file over defaults") {
  TempDir dir;
  const std::string file = dir.Sub("annalsd.toml");
  WriteFile(file, "data = \"/from/file\"\nlisten = \"127.0.0.1:7001\"\nlog_level = \"warn\"\n"
                  "registry_name = \"file-registry\"\n"
                  "[limits]\nbody_bytes_max = 1000\npage_size_max = 50\nconnections_max = 7\n");
  const CommandResult r = RunAnnalsd(
      {"ANNALS_LISTEN=127.0.0.1:7002", "ANNALS_BODY_BYTES_MAX=2000", "ANNALS_PAGE_SIZE_MAX=60"},
      {"--config", file, "--print-config", "--body-bytes-max", "3000"});
  REQUIRE(r.exit_code == 0);
  CHECK(HasLine(r.out, "data = \"/from/file\""));           // file
  CHECK(HasLine(r.out, "registry_name = \"file-registry\""));
  CHECK(HasLine(r.out, "listen = \"127.0.0.1:7002\""));     // env over file
  CHECK(HasLine(r.out, "page_size_max = 60"));              // env over file
  CHECK(HasLine(r.out, "body_bytes_max = 3000"));           // flag over env and file
  CHECK(HasLine(r.out, "connections_max = 7"));             // file over default
  CHECK(HasLine(r.out, "header_bytes_max = 16384"));        // default
  // ANNALS_CONFIG names the file too; the printed config reads back to itself.
  const std::string printed = dir.Sub("printed.toml");
  WriteFile(printed, r.out);
  const CommandResult again = RunAnnalsd({"ANNALS_CONFIG=" + printed}, {"--print-config"});
  REQUIRE(again.exit_code == 0);
  CHECK(again.out == r.out);
}

TEST_CASE("a server started from a config file and the environment uses them") {
  TempDir dir;
  const std::string file = dir.Sub("annalsd.toml");
  WriteFile(file, "data = \"" + dir.Sub("data") + "\"\nlisten = \"127.0.0.1:0\"\n");
  Annalsd annalsd({.args = {"--config", file}, .env = {"ANNALS_PAGE_SIZE_MAX=3"},
                   .listen_any_port = false});
  REQUIRE(annalsd.listening());
  HttpClient client(annalsd.port());
  REQUIRE(client.Post("/api/v1/events", EventJson("c1"), kStructured).status == 201);
  CHECK(std::filesystem::exists(dir.Sub("data/ledger/CURRENT")));
  CHECK(client.Get("/api/v1/events?limit=3").status == 200);
  CHECK(client.Get("/api/v1/events?limit=4").status == 400);
  CHECK(annalsd.Stop(SIGTERM) == 0);
}

TEST_CASE("bad configuration stops annalsd with exit code 2, naming the option") {
  TempDir dir;
  auto refused = [](const CommandResult& r) { CHECK(r.exit_code == 2); };
  const std::string typo = dir.Sub("typo.toml");
  WriteFile(typo, "[limits]\nbody_byte_max = 10\n");
  refused(RunAnnalsd({}, {"--config", typo, "--print-config"}));
  const std::string broken = dir.Sub("broken.toml");
  WriteFile(broken, "listen = \n");
  refused(RunAnnalsd({}, {"--config", broken, "--print-config"}));
  const std::string wrong_type = dir.Sub("wrong_type.toml");
  WriteFile(wrong_type, "[limits]\nbody_bytes_max = \"big\"\n");
  refused(RunAnnalsd({}, {"--config", wrong_type, "--print-config"}));
  refused(RunAnnalsd({"ANNALS_CONNECTIONS_MAX=many"}, {"--print-config"}));
  refused(RunAnnalsd({}, {"--listen", "localhost", "--print-config"}));
  refused(RunAnnalsd({}, {"--log-level", "loud", "--print-config"}));
  refused(RunAnnalsd({}, {"--page-size-max", "10001", "--print-config"}));
  // A certificate without its key: refused before the data directory is created.
  refused(RunAnnalsd({}, {"--tls-cert", dir.Sub("cert.pem"), "--data", dir.Sub("d")}));
  CHECK_FALSE(std::filesystem::exists(dir.Sub("d")));
  refused(RunAnnalsd({}, {"--no-such-flag"}));
  // A port in use.
  Annalsd first({.data_dir = dir.Sub("one")});
  REQUIRE(first.listening());
  refused(RunAnnalsd({}, {"--data", dir.Sub("two"), "--listen",
                          "127.0.0.1:" + std::to_string(first.port())}));
}

TEST_CASE("every option is documented in docs/annalsd.md") {
  const CommandResult help = RunAnnalsd({}, {"--help"});
  REQUIRE(help.exit_code == 0);
  std::ifstream in(std::string(ANNALS_DOCS_DIR) + "/annalsd.md");
  REQUIRE(in);
  std::stringstream doc;
  doc << in.rdbuf();
  const std::regex name("(--[a-z][a-z-]*|ANNALS_[A-Z_]+)");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(help.out.begin(), help.out.end(), name);
       it != std::sregex_iterator(); ++it) {
    names.insert(it->str());
  }
  CHECK(names.size() >= 30);
  for (const std::string& n : names) {
    CAPTURE(n);
    CHECK(doc.str().find(n) != std::string::npos);
  }
}

TEST_CASE("SIGTERM with appends in flight: exit 0, and every acknowledged event is kept") {
  TempDir dir;
  CheckStopKeepsAcknowledgedAppends({.data_dir = dir.Sub("data")});
}

}  // namespace
}  // namespace annals::testing
