#pragma once
// Internal to src/proxy: the two asynchronous steps of the request path, without Beast's or
// Asio's composed operations.
//
// http::async_read_some and async_read_header wrap every read in an async_compose operation
// that takes two work guards (atomic increments and decrements of the scheduler's outstanding
// work), and complete through a post() when the buffered bytes were enough; net::async_write
// copies a 64-entry buffer array at every step. These do the same work directly: a read step
// parses what is buffered first and, when that suffices, completes at once, synchronously, by
// returning true (the caller runs its handler itself); only when more bytes are needed does it
// read, once or more, and call the handler. Every read stays in its owner's handler chain, so
// callers keep their own checks (exchange and attempt ids) in their handlers.
//
// Thread: the stream's.

#include "proxy/body_pump.h"
#include "proxy/h1_parser.h"
#include "proxy/net.h"

#include <cstddef>
#include <utility>

namespace portico::proxy {

// Parses the buffered bytes of `b` into `p`. True when that completed the step (ec holds the
// outcome: success, need_buffer for a full body buffer, or an error); false when the parser
// needs more bytes.
inline bool parseBuffered(beast::flat_buffer& b, H1Parser& p, error_code& ec) {
  ec = {};
  if (b.size() == 0) {
    return false;
  }
  const auto data = b.data();
  const std::size_t used =
      p.put(std::string_view(static_cast<const char*>(data.data()), data.size()), ec);
  b.consume(used);
  return ec != http::error::need_more;
}

template <class Stream, class Handler>
class ReadStepOp {
 public:
  ReadStepOp(Stream& s, beast::flat_buffer& b, H1Parser& p, Handler&& h)
      : s_(s), b_(b), p_(p), h_(std::move(h)) {}

  void start() {
    auto& s = s_;
    auto buffers = b_.prepare(beast::read_size(b_, 65536));
    s.async_read_some(buffers, std::move(*this));
  }

  void operator()(error_code ec, std::size_t n) {
    if (ec == net::error::eof) {
      // As http::async_read_some: a message delimited by the end of the stream ends here; one
      // cut short is partial_message; none at all is end_of_stream.
      if (p_.gotSome()) {
        p_.putEof(ec);
      } else {
        ec = http::error::end_of_stream;
      }
      h_(ec);
      return;
    }
    if (ec) {
      h_(ec);
      return;
    }
    b_.commit(n);
    if (parseBuffered(b_, p_, ec)) {
      h_(ec);
      return;
    }
    start();
  }

 private:
  Stream& s_;
  beast::flat_buffer& b_;
  H1Parser& p_;
  Handler h_;
};

// The next step of the message in `p`: the head (a parser whose head is not done yet), or the
// next piece of body (into the parser's body buffer). Returns true when the buffered bytes
// sufficed (`ec` is the outcome, and `handler` is dropped); otherwise reads and calls
// handler(ec) once the step is complete.
template <class Stream, class Handler>
bool readStep(Stream& s, beast::flat_buffer& b, H1Parser& p, error_code& ec, Handler&& handler) {
  if (parseBuffered(b, p, ec)) {
    return true;
  }
  ReadStepOp<Stream, std::decay_t<Handler>>(s, b, p, std::forward<Handler>(handler)).start();
  return false;
}

template <class Stream, class Handler>
class WriteAllOp {
 public:
  WriteAllOp(Stream& s, const Gather& g, Handler&& h) : s_(s), g_(g), h_(std::move(h)) {}

  void start() {
    auto& s = s_;
    const Gather g = g_;
    s.async_write_some(g, std::move(*this));
  }

  void operator()(error_code ec, std::size_t n) {
    written_ += n;
    if (!ec && !g_.consume(n)) {
      start();  // a short write: the rest
      return;
    }
    h_(ec, written_);
  }

 private:
  Stream& s_;
  Gather g_;
  Handler h_;
  std::size_t written_ = 0;
};

// Writes every buffer of `g` (which must stay valid until the handler runs), then calls
// handler(ec, bytes written).
template <class Stream, class Handler>
void writeAll(Stream& s, const Gather& g, Handler&& handler) {
  WriteAllOp<Stream, std::decay_t<Handler>>(s, g, std::forward<Handler>(handler)).start();
}

}  // namespace portico::proxy
