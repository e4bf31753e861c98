#pragma once
// A blocking TLS client for tests (OpenSSL over a loopback socket): the handshake with a chosen
// SNI name, ALPN and highest version, the certificate the server chose, and keep-alive HTTP/1.1
// requests over the connection. Verification is off: tests inspect the certificate instead.

#include "http_client.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct ssl_st;
struct ssl_ctx_st;
struct ssl_session_st;

namespace portico::testing {

struct TlsClientOptions {
  std::string sni;                         // empty: no server_name extension
  std::string max_version;                 // "1.2" or "1.3"; empty: the library's highest
  bool offer_http11 = true;                // ALPN "http/1.1"
  std::shared_ptr<ssl_session_st> resume;  // a session of an earlier connection to resume
  std::chrono::milliseconds timeout{5000};
};

class TlsConnection final {
 public:
  TlsConnection(std::uint16_t port, TlsClientOptions options);
  ~TlsConnection();
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  bool ok() const { return ok_; }  // the handshake completed
  const std::string& error() const { return error_; }
  std::string protocol() const;  // "TLSv1.3", ...
  std::string alpn() const;      // "http/1.1", or empty
  const std::string& peerPem() const { return peer_pem_; }
  std::vector<std::string> peerNames() const;  // the served certificate's DNS names
  HttpResponse send(const HttpRequest& req);
  // Reads until the server ends the connection: "close_notify" (a TLS close), "eof" (the TCP
  // connection ended without one), or "error".
  std::string readEnd();
  // Whether the handshake resumed `resume`; the session to resume this one later (for TLS 1.3
  // it arrives after the handshake: send a request first).
  bool reused() const;
  std::shared_ptr<ssl_session_st> session() const;

 private:
  int fd_ = -1;
  ssl_ctx_st* ctx_ = nullptr;
  ssl_st* ssl_ = nullptr;
  bool ok_ = false;
  std::string error_;
  std::string peer_pem_;
  std::string in_;
  std::chrono::milliseconds timeout_;
};

}  // namespace portico::testing
