#include "dns/resolver.h"

#include "common/log.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

namespace portico::dns {

namespace {

// Queries one record type; appends what it finds.
void query(res_state state, const std::string& name, int type, Answer& out, bool& found,
           std::string& error) {
  std::vector<unsigned char> buf(4096);
  const int n =
      res_nquery(state, name.c_str(), ns_c_in, type, buf.data(), static_cast<int>(buf.size()));
  if (n < 0) {
    const int h = state->res_h_errno;
    error = h == HOST_NOT_FOUND ? "no such name"
            : h == NO_DATA      ? "no address records"
            : h == TRY_AGAIN    ? "the name server did not answer"
                                : "lookup failed";
    return;
  }
  ns_msg msg;
  if (ns_initparse(buf.data(), n, &msg) != 0) {
    error = "unreadable answer";
    return;
  }
  for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
    ns_rr rr;
    if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != type) {
      continue;  // CNAMEs on the way are followed by the server; only the addresses count
    }
    char text[INET6_ADDRSTRLEN] = {};
    const int family = type == ns_t_a ? AF_INET : AF_INET6;
    const int size = type == ns_t_a ? 4 : 16;
    if (ns_rr_rdlen(rr) != size ||
        inet_ntop(family, ns_rr_rdata(rr), text, sizeof(text)) == nullptr) {
      continue;
    }
    out.addresses.emplace_back(text);
    const auto ttl = std::chrono::seconds(ns_rr_ttl(rr));
    out.ttl = found ? std::min(out.ttl, ttl) : ttl;
    found = true;
  }
}

}  // namespace

Answer lookup(const std::string& name, const ResolverOptions& options) {
  Answer out;
  struct __res_state state;
  std::memset(&state, 0, sizeof(state));
  if (res_ninit(&state) != 0) {
    out.error = "cannot read the resolver configuration";
    return out;
  }
  if (!options.nameserver.empty()) {
    sockaddr_in ns{};
    ns.sin_family = AF_INET;
    ns.sin_port = htons(options.nameserver_port);
    inet_pton(AF_INET, options.nameserver.c_str(), &ns.sin_addr);
    state.nsaddr_list[0] = ns;
    state.nscount = 1;
    state.retrans = 1;
    state.retry = 1;
  }
  bool found = false;
  std::string error_a;
  std::string error_aaaa;
  query(&state, name, ns_t_a, out, found, error_a);
  query(&state, name, ns_t_aaaa, out, found, error_aaaa);
  res_nclose(&state);
  std::sort(out.addresses.begin(), out.addresses.end());
  out.addresses.erase(std::unique(out.addresses.begin(), out.addresses.end()), out.addresses.end());
  if (out.addresses.empty()) {
    out.error =
        error_a.empty() ? (error_aaaa.empty() ? "no address records" : error_aaaa) : error_a;
  }
  return out;
}

struct Resolver::Impl {
  ResolverOptions options;
  std::function<void()> changed;
  mutable std::mutex mutex;
  std::condition_variable cv;
  struct Entry {
    std::vector<std::string> addresses;  // last good
    std::chrono::steady_clock::time_point due{};
    bool resolved = false;
    bool failing = false;  // the last lookup failed (logged once per streak)
  };
  std::map<std::string, Entry> entries;
  std::uint64_t lookups = 0;
  bool stopping = false;
  std::thread thread;

  void run() {
    std::unique_lock<std::mutex> lock(mutex);
    while (!stopping) {
      // The next name due.
      auto next = std::chrono::steady_clock::time_point::max();
      std::string name;
      for (const auto& [n, e] : entries) {
        if (e.due < next) {
          next = e.due;
          name = n;
        }
      }
      if (name.empty() || next > std::chrono::steady_clock::now()) {
        if (name.empty()) {
          cv.wait(lock);
        } else {
          cv.wait_until(lock, next);
        }
        continue;
      }
      lock.unlock();
      const Answer answer = lookup(name, options);
      lock.lock();
      ++lookups;
      auto it = entries.find(name);
      if (it == entries.end()) {
        continue;  // forgotten meanwhile
      }
      Entry& e = it->second;
      const auto now = std::chrono::steady_clock::now();
      bool did_change = false;
      if (answer.addresses.empty()) {
        // Keep the last good addresses; try again soon.
        if (!e.failing) {
          log::warn("ExternalName did not resolve; keeping its last addresses",
                    {{"name", name}, {"error", answer.error}, {"kept", e.addresses.size()}});
        }
        e.failing = true;
        e.due = now + options.retry;
      } else {
        e.failing = false;
        did_change = !e.resolved || e.addresses != answer.addresses;
        e.addresses = answer.addresses;
        e.resolved = true;
        e.due = now + std::clamp(answer.ttl, options.min_ttl, options.max_ttl);
      }
      if (did_change && changed) {
        lock.unlock();
        changed();
        lock.lock();
      }
    }
  }
};

Resolver::Resolver(ResolverOptions options, std::function<void()> changed)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->changed = std::move(changed);
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

Resolver::~Resolver() {
  {
    const std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

void Resolver::watch(std::vector<std::string> names) {
  {
    const std::lock_guard<std::mutex> lock(impl_->mutex);
    std::map<std::string, Impl::Entry> next;
    for (auto& n : names) {
      auto it = impl_->entries.find(n);
      if (it != impl_->entries.end()) {
        next.emplace(n, std::move(it->second));
      } else {
        next.emplace(std::move(n), Impl::Entry{});  // due now
      }
    }
    impl_->entries = std::move(next);
  }
  impl_->cv.notify_all();
}

Resolved Resolver::results() const {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  Resolved out;
  for (const auto& [name, e] : impl_->entries) {
    if (e.resolved) {
      out.emplace(name, e.addresses);
    }
  }
  return out;
}

std::uint64_t Resolver::lookups() const {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->lookups;
}

}  // namespace portico::dns
