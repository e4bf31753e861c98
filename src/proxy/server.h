#pragma once
// The proxy: N workers, each with its own io_context, thread and SO_REUSEPORT acceptor on the
// HTTP port. A connection lives on the worker that accepted it; worker state (snapshot pointer,
// balancer cursors, upstream pool) is touched only from that worker's thread.
//
// Threads: every public method may be called from any one control thread. publish() posts the
// snapshot to each worker; a request keeps the snapshot it started with until it ends.
// Lifetime: start() once; stop() (or the destructor) joins the workers.

#include "common/clock.h"
#include "common/result.h"
#include "metrics/registry.h"
#include "proxy/config.h"
#include "snapshot/snapshot.h"
#include "tls/certificate.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

namespace portico::tls {
class SniTable;
}

namespace portico::proxy {

class Deadlines;
class UpstreamConnector;
class UpstreamPool;

// What the server is given rather than takes from the world (CONVENTIONS.md rule 7).
struct ServerOptions {
  const Clock* clock = nullptr;  // null: the system clock
  std::uint64_t seed = 0;        // of each worker's Random (seed + worker index); 0: random
  // Makes each worker's upstream connector; empty: TCP with pooling (PooledConnector). The
  // worker's Deadlines holds its io_context (context()).
  std::function<std::unique_ptr<UpstreamConnector>(Deadlines&, UpstreamPool&)> connector;
};

class Server final {
 public:
  Server(ProxyConfig config, metrics::Registry& registry, ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listeners and starts the workers; returns the bound HTTP port.
  Result<std::uint16_t> start();
  std::uint16_t port() const;
  // The bound HTTPS port, 0 without an HTTPS listener.
  std::uint16_t httpsPort() const;
  // The certificate served when nothing else matches, made at start (self-signed, P-256):
  // what the publisher passes as the SNI table's default unless --default-ssl-certificate
  // names a Secret. Null without an HTTPS listener.
  tls::SslCtxPtr generatedDefaultContext() const;
  // Session ticket keys rotate every 12 hours by themselves; this starts a new period now
  // (tickets of the previous key still resume, older ones do not).
  void rotateTicketKeys();

  // Binds `snapshot` to the runtime state that survives swaps (endpoint health and counters, by
  // stable key) and swaps the bundle into every worker. Never closes a listener or a wanted
  // upstream connection.
  // `sni` are the certificates to serve with it (tls::CertificateStore::sniTable); null: the
  // generated default certificate for every name. `ca_contexts` verify the backends of TLS
  // target groups by their CA Secret (tls::CertificateStore::caContexts); one missing fails
  // that group's connections. TLS target groups without a CA use a context of the server's.
  void publish(std::shared_ptr<const snapshot::Snapshot> snapshot,
               std::shared_ptr<const tls::SniTable> sni = nullptr,
               std::unordered_map<std::string, tls::SslCtxPtr> ca_contexts = {});
  // Generation of snapshots every worker has installed (counts publish() calls).
  std::uint64_t installedGeneration() const;

  // Stops accepting, closes idle client connections, and lets in-flight requests finish
  // (their connections close after the response).
  void drain();
  // Waits until no client connection is left, or the timeout passes; true when none is left.
  bool waitIdle(std::chrono::milliseconds timeout);
  // Stops the workers (connections still open are cut) and joins their threads.
  void stop();

  std::size_t activeConnections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace portico::proxy
