#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

namespace portico::testing {

Process::Process(std::vector<std::string> argv, int max_open_files) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return;
  }
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    if (max_open_files > 0) {
      rlimit lim{static_cast<rlim_t>(max_open_files), static_cast<rlim_t>(max_open_files)};
      ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    std::vector<char*> args;
    for (auto& a : argv) {
      args.push_back(a.data());
    }
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  out_fd_ = fds[0];
  reader_ = std::thread([this] {
    std::string partial;
    char buf[4096];
    while (true) {
      const ssize_t n = ::read(out_fd_, buf, sizeof(buf));
      if (n <= 0) {
        break;
      }
      partial.append(buf, static_cast<std::size_t>(n));
      std::size_t nl;
      while ((nl = partial.find('\n')) != std::string::npos) {
        {
          const std::lock_guard<std::mutex> lock(mutex_);
          lines_.push_back(partial.substr(0, nl));
        }
        cv_.notify_all();
        partial.erase(0, nl + 1);
      }
    }
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!partial.empty()) {
      lines_.push_back(partial);
    }
    eof_ = true;
    cv_.notify_all();
  });
}

Process::~Process() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::seconds(10));
  }
  if (reader_.joinable()) {
    reader_.join();
  }
  if (out_fd_ >= 0) {
    ::close(out_fd_);
  }
}

std::optional<std::string> Process::waitForLine(const std::function<bool(const std::string&)>& pred,
                                                std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  std::size_t checked = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    for (; checked < lines_.size(); ++checked) {
      if (pred(lines_[checked])) {
        return lines_[checked];
      }
    }
    if (eof_ || cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (; checked < lines_.size(); ++checked) {
        if (pred(lines_[checked])) {
          return lines_[checked];
        }
      }
      return std::nullopt;
    }
  }
}

std::vector<std::string> Process::lines() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return lines_;
}

void Process::signal(int sig) {
  if (pid_ > 0) {
    ::kill(pid_, sig);
  }
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  if (status_) {
    return status_;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const int r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    ::poll(nullptr, 0, 10);  // a child's exit has no descriptor to wait on
  }
}

std::string toolPath(const char* env_name) {
  const char* v = std::getenv(env_name);
  if (v == nullptr) {
    throw std::runtime_error(std::string(env_name) + " is not set (run the tests through ctest)");
  }
  return v;
}

}  // namespace portico::testing
