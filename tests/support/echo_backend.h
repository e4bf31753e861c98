#pragma once
// echo-backend: a real HTTP/1.1 server for tests and the demo. Every request gets JSON with the
// server's name, the method, path (the raw request target, query included), host, protocol and
// request headers, the shape the Kubernetes Ingress conformance echo server uses, plus the size
// and FNV-1a hash of the request body (read streaming, any size).
//
// Query parameters change the answer, for tests: status=N (status code), bytes=N (answer N
// bytes of body instead, streamed), chunked=1 (send it chunked), delay_ms=N (wait first),
// close=1 (close the connection after answering), gate=1 (hold the answer until release():
// tests wait on heldCount() instead of racing a delay). An Upgrade: websocket request is accepted
// and every message is echoed back. With useTls() it is a TLS-only backend.
//
// Threads: start() runs the server on its own thread; stop() joins it. requestCount() from
// any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace portico::testing {

class EchoBackend final {
 public:
  explicit EchoBackend(std::string name);
  ~EchoBackend();
  EchoBackend(const EchoBackend&) = delete;
  EchoBackend& operator=(const EchoBackend&) = delete;

  // Before start(): serve TLS with this certificate (the leaf first) and key, and report the
  // SNI name and version in each answer ("tls": {"sni", "version"}). `min_version` "1.2" or
  // "1.3"; "1.0" serves TLS 1.0 and 1.1 only (a backend portico must refuse). False when
  // OpenSSL refuses the PEM.
  bool useTls(const std::string& cert_pem, const std::string& key_pem,
              const std::string& min_version = "1.2");
  // Binds 127.0.0.1:port (0 picks one) and starts; returns the port, or 0 on failure.
  std::uint16_t start(std::uint16_t port = 0, const std::string& bind = "127.0.0.1");
  void stop();
  std::uint16_t port() const { return port_; }
  const std::string& name() const { return name_; }
  std::uint64_t requestCount() const { return requests_->load(); }
  std::uint64_t connectionCount() const { return connections_->load(); }
  // Requests with gate=1 whose answers are held now; release() lets every one of them go.
  std::size_t heldCount() const;
  void release();
  // Every answer from now on has this status (0: the one the request asks for, else 200).
  void failWith(unsigned status);
  // Every answer from now on waits this long first (0: none).
  void delayAll(int ms);

  struct Gate;  // the held answers, shared with the backend's sessions

 private:
  struct Impl;
  std::string name_;
  std::uint16_t port_ = 0;
  std::shared_ptr<std::atomic<std::uint64_t>> requests_;
  std::shared_ptr<std::atomic<std::uint64_t>> connections_;
  std::shared_ptr<Gate> gate_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace portico::testing
