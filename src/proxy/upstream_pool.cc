#include "proxy/upstream_pool.h"

#include <algorithm>

#include <sys/socket.h>

namespace portico::proxy {

UpstreamPool::UpstreamPool(net::io_context& ioc, const Clock& clock,
                           std::size_t max_idle_per_endpoint,
                           std::chrono::milliseconds idle_timeout,
                           std::chrono::milliseconds recheck_after)
    : clock_(clock),
      max_idle_per_endpoint_(max_idle_per_endpoint),
      idle_timeout_(idle_timeout),
      recheck_after_(recheck_after),
      sweep_timer_(ioc) {}

namespace {
// An idle keep-alive connection must have nothing to read: EOF means the peer closed it, data
// means it broke the protocol. Either way it cannot be reused.
bool looksOpen(Socket& socket) {
  char byte = 0;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}
}  // namespace

UpstreamConnPtr UpstreamPool::take(std::uint32_t pool_id) {
  auto it = idle_.find(pool_id);
  if (it == idle_.end()) {
    return nullptr;
  }
  auto& conns = it->second;
  const auto now = clock_.now();
  while (!conns.empty()) {
    UpstreamConnPtr conn = std::move(conns.back());
    conns.pop_back();
    const auto idle = now - conn->idle_since;
    // A connection idle for a moment only was seen open a moment ago: skip the syscall. Upstreams
    // close idle connections after seconds (nginx 75 s, Node 5 s, gunicorn 2 s), and a request
    // that still meets a closed one is retried when that is safe.
    if (idle < idle_timeout_ &&
        (idle < recheck_after_ || looksOpen(beast::get_lowest_layer(conn->stream).socket()))) {
      conn->reused = true;
      return conn;
    }
  }
  return nullptr;
}

void UpstreamPool::put(UpstreamConnPtr conn) {
  auto& conns = idle_[conn->pool_id];
  if (conns.size() >= max_idle_per_endpoint_) {
    return;  // the oldest ones stay; this one closes
  }
  conn->idle_since = clock_.now();
  conn->stream.expires_never();
  conn->parser.reset();
  conns.push_back(std::move(conn));
  armSweep();
}

void UpstreamPool::retain(const std::vector<std::uint32_t>& pool_ids) {
  for (auto it = idle_.begin(); it != idle_.end();) {
    it = std::binary_search(pool_ids.begin(), pool_ids.end(), it->first) ? std::next(it)
                                                                         : idle_.erase(it);
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
  const auto now = clock_.now();
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
