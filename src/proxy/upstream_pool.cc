#include "proxy/upstream_pool.h"

#include <sys/socket.h>

namespace portico::proxy {

std::string endpointKey(const std::string& address, std::uint16_t port) {
  std::string key = address;
  key += '|';
  key += std::to_string(port);
  return key;
}

UpstreamPool::UpstreamPool(net::io_context& ioc, std::size_t max_idle_per_endpoint,
                           std::chrono::milliseconds idle_timeout,
                           std::chrono::milliseconds recheck_after)
    : max_idle_per_endpoint_(max_idle_per_endpoint),
      idle_timeout_(idle_timeout),
      recheck_after_(recheck_after),
      sweep_timer_(ioc) {}

namespace {
// An idle keep-alive connection must have nothing to read: EOF means the peer closed it, data
// means it broke the protocol. Either way it cannot be reused.
bool looksOpen(tcp::socket& socket) {
  char byte = 0;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}
}  // namespace

std::unique_ptr<UpstreamConn> UpstreamPool::take(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end()) {
    return nullptr;
  }
  auto& conns = it->second;
  const auto now = std::chrono::steady_clock::now();
  while (!conns.empty()) {
    std::unique_ptr<UpstreamConn> conn = std::move(conns.back());
    conns.pop_back();
    const auto idle = now - conn->idle_since;
    // A connection idle for a moment only was seen open a moment ago: skip the syscall. Upstreams
    // close idle connections after seconds (nginx 75 s, Node 5 s, gunicorn 2 s), and a request
    // that still meets a closed one is retried when that is safe.
    if (idle < idle_timeout_ && (idle < recheck_after_ || looksOpen(conn->stream.socket()))) {
      conn->reused = true;
      return conn;
    }
  }
  return nullptr;
}

void UpstreamPool::put(std::unique_ptr<UpstreamConn> conn) {
  auto& conns = idle_[conn->key];
  if (conns.size() >= max_idle_per_endpoint_) {
    return;  // the oldest ones stay; this one closes
  }
  conn->idle_since = std::chrono::steady_clock::now();
  conn->stream.expires_never();
  conns.push_back(std::move(conn));
  armSweep();
}

void UpstreamPool::retain(const std::unordered_set<std::string>& keys) {
  for (auto it = idle_.begin(); it != idle_.end();) {
    it = keys.count(it->first) != 0 ? std::next(it) : idle_.erase(it);
  }
}

void UpstreamPool::clear() {
  idle_.clear();
  sweep_timer_.cancel();
}

std::size_t UpstreamPool::idleCount() const {
  std::size_t n = 0;
  for (const auto& [key, conns] : idle_) {
    n += conns.size();
  }
  return n;
}

void UpstreamPool::armSweep() {
  if (sweep_armed_) {
    return;
  }
  sweep_armed_ = true;
  sweep_timer_.expires_after(idle_timeout_);
  sweep_timer_.async_wait([this](error_code ec) {
    sweep_armed_ = false;
    if (!ec) {
      sweep();
    }
  });
}

void UpstreamPool::sweep() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& conns = it->second;
    std::erase_if(conns, [&](const auto& c) { return now - c->idle_since >= idle_timeout_; });
    it = conns.empty() ? idle_.erase(it) : std::next(it);
  }
  if (!idle_.empty()) {
    armSweep();
  }
}

}  // namespace portico::proxy
