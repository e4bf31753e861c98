#pragma once
// A tiny DNS server on 127.0.0.1 (UDP, port 0) for tests of ExternalName resolution: it answers
// A and AAAA questions for the names it is given, with the TTL it is given; a name it does not
// know is NXDOMAIN, and fail() makes it answer SERVFAIL to everything.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace portico::testing {

class DnsServer final {
 public:
  DnsServer() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~DnsServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }
  // The addresses (IPv4 or IPv6 literals) `name` resolves to, with `ttl` seconds.
  void set(const std::string& name, std::vector<std::string> addresses, std::uint32_t ttl) {
    const std::lock_guard<std::mutex> lock(mutex_);
    names_[name] = {std::move(addresses), ttl};
  }
  void fail(bool on) { fail_ = on; }
  std::uint64_t queries() const { return queries_; }

 private:
  struct Record {
    std::vector<std::string> addresses;
    std::uint32_t ttl;
  };

  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) {
        continue;
      }
      unsigned char q[512];
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      const ssize_t n = ::recvfrom(fd_, q, sizeof(q), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 17) {
        continue;
      }
      ++queries_;
      // The question: labels from byte 12, then type and class.
      std::string name;
      std::size_t at = 12;
      while (at < static_cast<std::size_t>(n) && q[at] != 0) {
        const std::size_t l = q[at];
        if (!name.empty()) {
          name += '.';
        }
        name.append(reinterpret_cast<const char*>(q + at + 1), l);
        at += l + 1;
      }
      const std::size_t question_end = at + 5;
      if (question_end > static_cast<std::size_t>(n)) {
        continue;
      }
      const unsigned type = (q[at + 1] << 8) | q[at + 2];
      std::vector<unsigned char> r(q, q + question_end);
      r[2] = 0x81;  // response, recursion desired
      r[3] = 0x80;  // recursion available, NOERROR
      r[6] = r[7] = 0;
      r[8] = r[9] = r[10] = r[11] = 0;
      Record rec;
      bool known = false;
      {
        const std::lock_guard<std::mutex> lock(mutex_);
        auto it = names_.find(name);
        known = it != names_.end();
        if (known) {
          rec = it->second;
        }
      }
      if (fail_) {
        r[3] = 0x82;  // SERVFAIL
      } else if (!known) {
        r[3] = 0x83;  // NXDOMAIN
      } else {
        std::uint16_t count = 0;
        for (const auto& address : rec.addresses) {
          unsigned char bytes[16];
          const bool v4 = inet_pton(AF_INET, address.c_str(), bytes) == 1;
          if (!v4 && inet_pton(AF_INET6, address.c_str(), bytes) != 1) {
            continue;
          }
          if ((type == 1) != v4) {
            continue;
          }
          const unsigned char answer[] = {0xc0,
                                          0x0c,  // the question's name
                                          0,
                                          static_cast<unsigned char>(v4 ? 1 : 28),
                                          0,
                                          1,
                                          static_cast<unsigned char>(rec.ttl >> 24),
                                          static_cast<unsigned char>(rec.ttl >> 16),
                                          static_cast<unsigned char>(rec.ttl >> 8),
                                          static_cast<unsigned char>(rec.ttl),
                                          0,
                                          static_cast<unsigned char>(v4 ? 4 : 16)};
          r.insert(r.end(), answer, answer + sizeof(answer));
          r.insert(r.end(), bytes, bytes + (v4 ? 4 : 16));
          ++count;
        }
        r[6] = static_cast<unsigned char>(count >> 8);
        r[7] = static_cast<unsigned char>(count);
      }
      ::sendto(fd_, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> fail_{false};
  std::atomic<std::uint64_t> queries_{0};
  std::mutex mutex_;
  std::map<std::string, Record> names_;
};

}  // namespace portico::testing
