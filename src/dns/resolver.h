#pragma once
// Asynchronous DNS for ExternalName Services: each name is resolved (A and AAAA) on a thread of
// its own, again when its records' TTL runs out (clamped to [min_ttl, max_ttl]); a failed
// resolution keeps the last good addresses and is retried after `retry`. The compiler takes the
// results as input (config::Options::resolved), so it stays pure: the controller recompiles
// when they change.
//
// Thread: every method may be called from any thread; `changed` runs on the resolver's thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace portico::dns {

struct ResolverOptions {
  std::chrono::seconds min_ttl{5};
  std::chrono::seconds max_ttl{300};
  std::chrono::seconds retry{5};
  // Tests: ask this server (IPv4 "127.0.0.1") on this port instead of /etc/resolv.conf's.
  std::string nameserver;
  std::uint16_t nameserver_port = 53;
};

// Addresses by name, each list sorted; a name that never resolved is absent.
using Resolved = std::map<std::string, std::vector<std::string>>;

class Resolver final {
 public:
  Resolver(ResolverOptions options, std::function<void()> changed);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // The names to keep resolved from now on (others are forgotten). New names resolve at once.
  void watch(std::vector<std::string> names);
  Resolved results() const;
  // Resolutions done so far (for tests waiting on a round).
  std::uint64_t lookups() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One A + AAAA lookup: the addresses and the smallest TTL of their records; empty addresses
// with `error` set when the name does not resolve.
struct Answer {
  std::vector<std::string> addresses;
  std::chrono::seconds ttl{0};
  std::string error;
};
Answer lookup(const std::string& name, const ResolverOptions& options);

}  // namespace portico::dns
