#include "tls_client.h"

#include "tls/certificate.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cstring>

namespace portico::testing {

TlsConnection::TlsConnection(std::uint16_t port, TlsClientOptions options)
    : timeout_(options.timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    error_ = std::string("connect: ") + std::strerror(errno);
    return;
  }
  ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
  if (options.max_version == "1.2") {
    SSL_CTX_set_max_proto_version(ctx_, TLS1_2_VERSION);
  } else if (options.max_version == "1.3") {
    SSL_CTX_set_max_proto_version(ctx_, TLS1_3_VERSION);
  }
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  if (!options.sni.empty()) {
    SSL_set_tlsext_host_name(ssl_, options.sni.c_str());
  }
  if (options.resume) {
    SSL_set_session(ssl_, options.resume.get());
  }
  if (options.offer_http11) {
    static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_set_alpn_protos(ssl_, kAlpn, sizeof(kAlpn));
  }
  if (SSL_connect(ssl_) != 1) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    error_ = buf;
    ERR_clear_error();
    return;
  }
  ok_ = true;
  if (X509* peer = SSL_get1_peer_certificate(ssl_)) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, peer);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    peer_pem_.assign(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    X509_free(peer);
  }
}

TlsConnection::~TlsConnection() {
  if (ssl_ != nullptr) {
    if (ok_) {
      SSL_shutdown(ssl_);  // close_notify: without it OpenSSL marks the session not resumable
    }
    SSL_free(ssl_);
  }
  if (ctx_ != nullptr) {
    SSL_CTX_free(ctx_);
  }
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

bool TlsConnection::reused() const { return ok_ && SSL_session_reused(ssl_) == 1; }

std::shared_ptr<ssl_session_st> TlsConnection::session() const {
  SSL_SESSION* s = ok_ ? SSL_get1_session(ssl_) : nullptr;
  return std::shared_ptr<ssl_session_st>(s, [](SSL_SESSION* p) {
    if (p != nullptr) {
      SSL_SESSION_free(p);
    }
  });
}

std::string TlsConnection::protocol() const { return ok_ ? SSL_get_version(ssl_) : ""; }

std::string TlsConnection::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  if (ok_) {
    SSL_get0_alpn_selected(ssl_, &p, &n);
  }
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
}

std::vector<std::string> TlsConnection::peerNames() const {
  return tls::certificateNamesOf(peer_pem_);
}

HttpResponse TlsConnection::send(const HttpRequest& req) {
  HttpResponse res;
  if (!ok_) {
    res.error = "no TLS connection: " + error_;
    return res;
  }
  const std::string bytes = serialize(req);
  if (SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) <= 0) {
    res.error = "write failed";
    return res;
  }
  const auto fill = [&] {
    char buf[16384];
    const int n = SSL_read(ssl_, buf, sizeof(buf));
    if (n <= 0) {
      return false;
    }
    in_.append(buf, static_cast<std::size_t>(n));
    return true;
  };
  std::size_t end;
  while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) {
      res.error = "closed before a response head";
      return res;
    }
  }
  const std::string head = in_.substr(0, end);
  in_.erase(0, end + 4);
  res.status = std::atoi(head.substr(9, 3).c_str());
  std::size_t length = 0;
  std::size_t at = head.find("\r\n");
  while (at != std::string::npos) {
    const std::size_t next = head.find("\r\n", at + 2);
    const std::string line =
        head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
    const std::size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      if (name == "content-length") {
        length = static_cast<std::size_t>(std::stoull(value));
      }
      res.headers.emplace(name, value);
    }
    at = next;
  }
  while (in_.size() < length) {
    if (!fill()) {
      res.error = "closed mid-body";
      return res;
    }
  }
  res.body = in_.substr(0, length);
  in_.erase(0, length);
  return res;
}

std::string TlsConnection::readEnd() {
  if (!ok_) {
    return "no TLS connection";
  }
  char buf[4096];
  while (true) {
    const int n = SSL_read(ssl_, buf, sizeof(buf));
    if (n > 0) {
      continue;  // bytes after the last response: not expected, skipped
    }
    switch (SSL_get_error(ssl_, n)) {
      case SSL_ERROR_ZERO_RETURN:
        return "close_notify";
      case SSL_ERROR_SYSCALL:
        return "eof";  // the TCP connection ended without close_notify
      default:
        return "error";
    }
  }
}

}  // namespace portico::testing
