#include "annals/testing/annalsd_process.h"

#include <signal.h>

#include "annals/testing/test_util.h"

namespace annals::testing {

namespace {
constexpr std::string_view kBannerPrefix = "annalsd listening on ";
}

Annalsd::Annalsd(AnnalsdOptions options) {
  // env(1) sets the variables and the working directory, then runs annalsd in its place.
  std::vector<std::string> argv = {"/usr/bin/env"};
  if (!options.cwd.empty()) argv.insert(argv.end(), {"-C", options.cwd});
  argv.insert(argv.end(), options.env.begin(), options.env.end());
  argv.push_back(BinDir() + "/annalsd");
  if (!options.data_dir.empty()) argv.insert(argv.end(), {"--data", options.data_dir});
  if (options.listen_any_port) argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
  argv.insert(argv.end(), options.args.begin(), options.args.end());
  child_ = std::make_unique<ChildProcess>(argv);
  std::string line;
  while (child_->ReadLine(&line)) {
    if (!line.starts_with(kBannerPrefix)) continue;
    const std::string_view url = std::string_view(line).substr(kBannerPrefix.size());
    if (!url.starts_with("http://") && !url.starts_with("https://")) continue;
    banner_ = line;
    port_ = std::stoi(line.substr(line.rfind(':') + 1));
    return;
  }
}

int Annalsd::Stop(int signal_number) {
  child_->Kill(signal_number);
  return child_->Wait();
}

}  // namespace annals::testing
