#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace portico::testing {

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}
int msUntil(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}
}  // namespace

void waitBriefly() { ::poll(nullptr, 0, 5); }

std::string HttpResponse::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

std::string serialize(const HttpRequest& req) {
  std::string out =
      req.method + " " + req.target + (req.version == 11 ? " HTTP/1.1" : " HTTP/1.0") + "\r\n";
  if (!req.host.empty()) {
    out += "Host: " + req.host + "\r\n";
  }
  bool has_length = false;
  for (const auto& [k, v] : req.headers) {
    out += k + ": " + v + "\r\n";
    has_length = has_length || lower(k) == "content-length" || lower(k) == "transfer-encoding";
  }
  if (req.chunked) {
    out += "Transfer-Encoding: chunked\r\n\r\n";
    if (!req.body.empty()) {
      char size[32];
      std::snprintf(size, sizeof(size), "%zx\r\n", req.body.size());
      out += size + req.body + "\r\n";
    }
    return out + "0\r\n\r\n";
  }
  if (!has_length && (!req.body.empty() || req.method == "POST" || req.method == "PUT")) {
    out += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
  }
  return out + "\r\n" + req.body;
}

Connection::Connection(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

Connection::~Connection() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

bool Connection::writeRaw(const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  return true;
}

bool Connection::fill(std::chrono::steady_clock::time_point deadline) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, msUntil(deadline)) <= 0) {
    return false;
  }
  char buf[65536];
  const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
  if (n <= 0) {
    return false;
  }
  in_.append(buf, static_cast<std::size_t>(n));
  return true;
}

std::string Connection::readUntilClose(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (fill(deadline)) {
  }
  std::string out;
  out.swap(in_);
  return out;
}

bool Connection::closedByPeer(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, msUntil(deadline)) <= 0) {
      return false;
    }
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
      return true;
    }
    if (n < 0) {
      return false;
    }
  }
}

HttpResponse Connection::readResponse(bool head_request, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  HttpResponse res;
  std::size_t header_end;
  while ((header_end = in_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill(deadline)) {
      res.error = in_.empty() ? "no response" : "incomplete response header";
      return res;
    }
  }
  const std::string head = in_.substr(0, header_end);
  in_.erase(0, header_end + 4);
  std::size_t line_end = head.find("\r\n");
  const std::string status_line = head.substr(0, line_end);
  if (status_line.size() < 12) {
    res.error = "bad status line: " + status_line;
    return res;
  }
  res.status = std::atoi(status_line.c_str() + 9);
  while (line_end != std::string::npos) {
    const std::size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string line =
        head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
    const auto colon = line.find(':');
    if (colon == std::string::npos) {
      continue;
    }
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    res.headers.emplace(lower(line.substr(0, colon)), value);
  }
  if (head_request || res.status == 204 || res.status == 304 || res.status < 200) {
    return res;
  }
  if (lower(res.header("transfer-encoding")) == "chunked") {
    while (true) {
      std::size_t eol;
      while ((eol = in_.find("\r\n")) == std::string::npos) {
        if (!fill(deadline)) {
          res.error = "truncated chunked body";
          return res;
        }
      }
      const std::size_t size = std::stoul(in_.substr(0, eol), nullptr, 16);
      while (in_.size() < eol + 2 + size + 2) {
        if (!fill(deadline)) {
          res.error = "truncated chunk";
          return res;
        }
      }
      res.body += in_.substr(eol + 2, size);
      in_.erase(0, eol + 2 + size + 2);
      if (size == 0) {
        return res;
      }
    }
  }
  const std::string cl = res.header("content-length");
  if (!cl.empty()) {
    const std::size_t n = std::stoul(cl);
    while (in_.size() < n) {
      if (!fill(deadline)) {
        res.error = "truncated body";
        res.body = in_;
        return res;
      }
    }
    res.body = in_.substr(0, n);
    in_.erase(0, n);
    return res;
  }
  while (fill(deadline)) {
  }
  res.body.swap(in_);
  return res;
}

HttpResponse Connection::send(const HttpRequest& req, std::chrono::milliseconds timeout) {
  if (fd_ < 0) {
    HttpResponse r;
    r.error = "not connected";
    return r;
  }
  if (!writeRaw(serialize(req))) {
    HttpResponse r;
    r.error = "write failed";
    return r;
  }
  return readResponse(req.method == "HEAD", timeout);
}

HttpResponse request(std::uint16_t port, const HttpRequest& req,
                     std::chrono::milliseconds timeout) {
  Connection c(port);
  return c.send(req, timeout);
}

}  // namespace portico::testing
