#pragma once
// test-apiserver: a Kubernetes API server for tests and for e2e/local, good enough for the
// real kubectl and for portico's watcher. HTTPS with a private CA, bearer-token auth, JSON CRUD,
// list and watch with the real server's framing, bookmarks and 410 behaviour, the status
// subresource, discovery, and fault injection under /_test/ (see server.cc).
//
// Threads: start() runs everything on one I/O thread of its own; stop() joins it.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace portico::apiserver {

struct ServerOptions {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 0;
  std::string data_dir;  // CA, certificates, token and objects live here
  // Whether writes are saved to data_dir/state.json (it is read at start either way). Off for
  // benchmarks that seed tens of thousands of objects: saving them all on every write would
  // delay each answer by the time it takes.
  bool persist = true;
  std::chrono::milliseconds bookmark_interval{60'000};
  std::size_t history_limit = 1000;
};

class ApiServer final {
 public:
  explicit ApiServer(ServerOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Prepares the data directory and listens; returns the bound port (throws on failure).
  std::uint16_t start();
  void stop();

  std::string caPem() const;
  std::string token() const;
  // A kubeconfig for kubectl and portico.
  std::string kubeconfig() const;

  struct Impl;  // internal to server.cc

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace portico::apiserver
