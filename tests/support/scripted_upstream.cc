#include "scripted_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace portico::testing {

ScriptedUpstream::ScriptedUpstream(Script script) : script_(std::move(script)) {}

ScriptedUpstream::~ScriptedUpstream() { stop(); }

std::uint16_t ScriptedUpstream::start() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    return 0;
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { acceptLoop(); });
  return port_;
}

void ScriptedUpstream::stop() {
  if (stopping_.exchange(true)) {
    return;
  }
  release();
  if (accept_thread_.joinable()) {
    accept_thread_.join();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int fd : fds_) {
      ::shutdown(fd, SHUT_RDWR);
    }
  }
  for (auto& t : threads_) {
    t.join();
  }
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
  }
}

void ScriptedUpstream::release() {
  std::lock_guard<std::mutex> lock(mutex_);
  released_ = true;
  released_cv_.notify_all();
}

std::vector<std::string> ScriptedUpstream::heads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return heads_;
}

std::size_t ScriptedUpstream::requestCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return heads_.size();
}

std::string ScriptedUpstream::received() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return received_;
}

void ScriptedUpstream::acceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) {
      continue;  // a short poll so that stop() is noticed
    }
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    fds_.push_back(fd);
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

void ScriptedUpstream::serve(int fd) {
  std::string in;
  char buf[16384];
  auto readMore = [&]() {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      return false;
    }
    in.append(buf, static_cast<std::size_t>(n));
    std::lock_guard<std::mutex> lock(mutex_);
    received_.append(buf, static_cast<std::size_t>(n));
    return true;
  };
  while (!stopping_) {
    std::size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
      if (!readMore()) {
        return;
      }
    }
    const std::string head = in.substr(0, end + 4);
    in.erase(0, end + 4);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      heads_.push_back(head);
    }
    Reply reply = script_(head);
    if (reply.gated) {
      std::unique_lock<std::mutex> lock(mutex_);
      released_cv_.wait(lock, [this] { return released_; });
    }
    std::size_t off = 0;
    while (off < reply.bytes.size()) {
      const ssize_t n =
          ::send(fd, reply.bytes.data() + off, reply.bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        return;
      }
      off += static_cast<std::size_t>(n);
    }
    if (reply.after == After::kClose) {
      ::shutdown(fd, SHUT_WR);
      while (readMore()) {
      }
      return;
    }
    if (reply.after == After::kDrain) {
      while (readMore()) {
      }
      return;
    }
  }
}

std::string cannedResponse(const std::string& status_line, const std::string& extra_head,
                           const std::string& body) {
  return status_line + "\r\n" + extra_head + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

}  // namespace portico::testing
