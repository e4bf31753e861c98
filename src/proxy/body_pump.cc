#include "proxy/body_pump.h"

#include "proxy/http_util.h"

namespace portico::proxy {

namespace {
constexpr char kCrlf[] = "\r\n";
constexpr char kLastChunk[] = "0\r\n\r\n";
}  // namespace

Gather BodyFramer::frame(const char* data, std::size_t n, bool last) {
  Gather out;
  if (!head_sent_ && head_ != nullptr) {
    out.add(net::buffer(*head_));
  }
  if (chunked_ && n > 0) {
    out.add(net::buffer(prefix_.data(), chunkPrefix(n, prefix_.data())));
  }
  out.add(net::buffer(data, n));
  if (chunked_ && n > 0) {
    out.add(net::buffer(kCrlf, 2));
  }
  if (chunked_ && last) {
    out.add(net::buffer(kLastChunk, sizeof(kLastChunk) - 1));
  }
  return out;
}

}  // namespace portico::proxy
