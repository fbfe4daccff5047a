#include "annals/testing/child_process.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "annals/base/assert.h"

namespace annals::testing {

ChildProcess::ChildProcess(const std::vector<std::string>& argv) {
  ANNALS_ASSERT(!argv.empty());
  signal(SIGPIPE, SIG_IGN);  // a write to a killed child must fail, not kill the test
  int in[2];
  int out[2];
  ANNALS_ASSERT(pipe(in) == 0);
  ANNALS_ASSERT(pipe(out) == 0);
  pid_ = fork();
  ANNALS_ASSERT(pid_ >= 0);
  if (pid_ == 0) {
    // A test that dies (a crash, an abort) takes its servers with it.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  stdin_fd_ = in[1];
  stdout_fd_ = out[0];
}

ChildProcess::~ChildProcess() {
  if (!reaped_) {
    Kill(SIGKILL);
    Wait();
  }
  CloseStdin();
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

bool ChildProcess::Write(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(stdin_fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

void ChildProcess::CloseStdin() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
}

bool ChildProcess::ReadLine(std::string* line) {
  for (;;) {
    const size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      *line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return true;
    }
    char chunk[65536];
    const ssize_t n = read(stdout_fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // a partial last line is not a line
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

void ChildProcess::Kill(int signal_number) {
  if (!reaped_) kill(pid_, signal_number);
}

int ChildProcess::Wait() {
  if (!reaped_) {
    while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return -1;
}

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input) {
  ChildProcess child(argv);
  std::thread feeder([&] {
    child.Write(input);
    child.CloseStdin();
  });
  CommandResult result;
  std::string line;
  while (child.ReadLine(&line)) result.out += line + "\n";
  feeder.join();
  result.exit_code = child.Wait();
  return result;
}

}  // namespace annals::testing
