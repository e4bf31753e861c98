#pragma once
// Framing of one message body on its way out, used in both directions (client to upstream and
// upstream to client): the head until it is sent, then each piece raw or as a chunk, then the
// last chunk; everything of one step leaves in one gather write. Internal to src/proxy.
//
// The framing is the one the head writer announced, derived from the parser's state: a body
// that came with Content-Length leaves raw under the same length, a chunked one (or one that
// ends with the connection) leaves chunked.

#include "proxy/net.h"

#include <array>
#include <cstddef>
#include <string>

namespace portico::proxy {

// Up to five buffers written with one gather write: head, chunk prefix, data, CRLF, last chunk.
struct Gather {
  std::array<net::const_buffer, 5> items;
  std::size_t count = 0;
  void add(net::const_buffer b) {
    if (b.size() > 0) {
      items[count++] = b;
    }
  }
  // Drops the first `n` bytes (after a short write); true when nothing is left.
  bool consume(std::size_t n) {
    std::size_t i = 0;
    while (i < count && n >= items[i].size()) {
      n -= items[i].size();
      ++i;
    }
    if (i < count) {
      items[i] += n;
    }
    for (std::size_t k = i; k < count; ++k) {
      items[k - i] = items[k];
    }
    count -= i;
    return count == 0;
  }
  const net::const_buffer* begin() const { return items.data(); }
  const net::const_buffer* end() const { return items.data() + count; }
};

class BodyFramer final {
 public:
  // `head` is written before the first piece; it must outlive the message.
  void reset(const std::string* head, bool chunked) {
    head_ = head;
    head_sent_ = false;
    chunked_ = chunked;
  }
  // The buffers of the next write: the head (until sent), then `n` bytes of `data`, framed; the
  // last chunk when `last`.
  Gather frame(const char* data, std::size_t n, bool last);
  // The write of the last frame() completed.
  void sent() { head_sent_ = true; }
  bool headSent() const { return head_sent_; }

 private:
  const std::string* head_ = nullptr;
  bool head_sent_ = false;
  bool chunked_ = false;
  std::array<char, 20> prefix_{};
};

}  // namespace portico::proxy
