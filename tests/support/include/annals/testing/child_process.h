// A child process with pipes to its stdin and from its stdout, for tests that drive annalsctl
// (and later annalsd) as a user would, and kill them at chosen instants.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace annals::testing {

class ChildProcess {
 public:
  // Starts `argv[0]` with `argv`. stdin and stdout are pipes; stderr is inherited.
  explicit ChildProcess(const std::vector<std::string>& argv);
  // Kills (SIGKILL) and reaps the child if it still runs.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Writes to the child's stdin; false once the child has gone (EPIPE).
  bool Write(const std::string& bytes);
  void CloseStdin();
  // Reads one line of the child's stdout (without '\n'); false at end of output.
  bool ReadLine(std::string* line);
  void Kill(int signal);
  // Waits for the exit; returns the exit code, or 128 + signal when killed.
  int Wait();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  bool reaped_ = false;
  int status_ = 0;
};

// Runs a command to completion with `input` on its stdin; returns its exit code and stdout.
struct CommandResult {
  int exit_code = -1;
  std::string out;
};
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input = "");

}  // namespace annals::testing
