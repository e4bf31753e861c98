#pragma once
// Runs a program as a child process for tests: its stderr and stdout are collected line by
// line on a thread, so a test can wait for a line with a deadline.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace portico::testing {

class Process final {
 public:
  // `max_open_files` > 0 lowers RLIMIT_NOFILE in the child.
  explicit Process(std::vector<std::string> argv, int max_open_files = 0);
  ~Process();  // kills (SIGKILL) if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool started() const { return pid_ > 0; }
  // The first output line (stdout or stderr) for which pred holds, within the timeout.
  std::optional<std::string> waitForLine(const std::function<bool(const std::string&)>& pred,
                                         std::chrono::milliseconds timeout);
  std::vector<std::string> lines() const;
  void signal(int sig);
  // Exit status, or nullopt when it has not exited within the timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  int pid_ = -1;
  int out_fd_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool eof_ = false;
  std::optional<int> status_;
};

// The path of a built tool, from the environment ctest sets (PORTICO_BIN, ECHO_BACKEND_BIN).
std::string toolPath(const char* env_name);

}  // namespace portico::testing
