#pragma once
// A small blocking HTTP/1.1 client for tests: real sockets on loopback, with a deadline on
// every call so that a hung server fails the test instead of hanging it.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace portico::testing {

struct HttpResponse {
  int status = 0;  // 0: no response (connection failed or closed)
  std::string error;
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& name) const;
};

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";
  std::string host = "localhost";  // empty: no Host header
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool chunked = false;
  int version = 11;
};

// One request on a new connection (closed after).
HttpResponse request(std::uint16_t port, const HttpRequest& req,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));
inline HttpResponse get(std::uint16_t port, const std::string& host, const std::string& target) {
  HttpRequest r;
  r.host = host;
  r.target = target;
  return request(port, r);
}

// A keep-alive connection: several requests, in order, on one socket.
class Connection final {
 public:
  explicit Connection(std::uint16_t port);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  bool connected() const { return fd_ >= 0; }
  HttpResponse send(const HttpRequest& req,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Raw bytes out, then everything read until the peer closes or the timeout passes.
  bool writeRaw(const std::string& bytes);
  std::string readUntilClose(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Reads one response (after writeRaw).
  HttpResponse readResponse(bool head_request = false,
                            std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // True when the server closed the connection (EOF) within the timeout.
  bool closedByPeer(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  int fd() const { return fd_; }

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
  std::string in_;
};

std::string serialize(const HttpRequest& req);

// Yields for a few milliseconds between two checks of a condition (used by eventually()).
void waitBriefly();

// Waits until pred() holds or the deadline passes; polls with a short back-off.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    waitBriefly();
  }
}

}  // namespace portico::testing
