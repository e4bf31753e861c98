#pragma once
// Session ticket keys that rotate (RFC 5077, TLS 1.3 tickets): resumption without a session
// cache shared between workers, and without one key that decrypts every ticket forever. A key
// encrypts new tickets for one period; for one period more it still decrypts (and the client
// gets a fresh ticket), then it is gone, so a stolen key exposes at most two periods of
// sessions. Keys live only in memory: a restart starts a new key (resumption then falls back to
// full handshakes once).
//
// Thread: install() on the control thread; the callback on any worker, under a mutex held for
// a key lookup (a handshake costs far more).

#include "tls/certificate.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>

struct ssl_st;  // OpenSSL's SSL

namespace portico::tls {

class TicketKeys final {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit TicketKeys(std::chrono::seconds period = std::chrono::hours(12), Clock clock = {});

  // Makes connections created from `ctx` issue and accept tickets (OpenSSL asks the context a
  // connection started with, even after SNI switched it). Each connection must be attached.
  static void install(ssl_ctx_st* ctx);
  // Tells a new connection which keys to use; they must outlive it.
  void attach(ssl_st* ssl);
  // Starts a new period now (what time does by itself; for tests).
  void rotate();
  std::uint64_t rotations() const;

  // The OpenSSL ticket callback's work (public for the callback, not for callers).
  struct Key {
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, 32> aes{};
    std::array<unsigned char, 32> hmac{};
  };
  // The key to encrypt with now; the key named `name` to decrypt with (and whether it is the
  // previous one), or false when none matches.
  Key current();
  bool find(const unsigned char* name, Key& out, bool& previous);

 private:
  void rotateLocked(std::chrono::steady_clock::time_point now);
  void maybeRotateLocked();
  std::chrono::steady_clock::time_point now() const;

  const std::chrono::seconds period_;
  const Clock clock_;
  mutable std::mutex mutex_;
  Key current_;
  Key previous_;
  std::chrono::steady_clock::time_point since_;
  std::uint64_t rotations_ = 0;  // since construction: previous_ is a key once this is > 0
};

}  // namespace portico::tls
