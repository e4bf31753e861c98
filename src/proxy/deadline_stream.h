#pragma once
// Internal to src/proxy: the worker's TCP stream with a deadline and no timer of its own.
//
// beast::tcp_stream arms an Asio timer for every read and write and cancels it when the
// operation ends (a timer-queue insert and removal, an epoll timerfd update, a clock read and a
// cancelled handler run each time), and its any_io_executor type-erases every handler it
// dispatches. A DeadlineStream is a plain socket on the worker's io_context executor whose
// deadline is a field: expires_after() moves the stream to the tail of its worker's list for
// that timeout (one list per distinct timeout, so each list is in deadline order), and one
// per-worker timer, armed for the earliest head (re-armed only when a new deadline comes before
// it), expires the heads that are due. Setting a deadline costs a coarse clock read, a few
// pointer writes and a comparison.
//
// On expiry the socket's pending operations are cancelled (not closed: a 408 can still be
// written) and complete with beast::error::timeout, as tcp_stream's do; an operation started
// after the expiry and before the next expires_after() completes with timeout at once.
//
// Thread: the worker's. Deadlines outlives nothing it does not own: when it is destroyed first
// (the worker's io_context destroys pending handlers, and the streams they hold, after it), it
// detaches its streams, whose destructors then have nothing to unlink.

#include "proxy/net.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace portico::proxy {

using WorkerExecutor = net::io_context::executor_type;
using Socket = net::basic_stream_socket<tcp, WorkerExecutor>;
using WorkerTimer =
    net::basic_waitable_timer<std::chrono::steady_clock,
                              net::wait_traits<std::chrono::steady_clock>, WorkerExecutor>;

class DeadlineStream;

class Deadlines final {
 public:
  // Deadlines are enforced within `resolution` of being due (plus the coarse clock's tick).
  Deadlines(net::io_context& ioc, std::chrono::milliseconds resolution);
  ~Deadlines();
  Deadlines(const Deadlines&) = delete;
  Deadlines& operator=(const Deadlines&) = delete;

  net::io_context& context() { return ioc_; }
  // Streams with a deadline set (tests, metrics).
  std::size_t armedCount() const { return armed_; }
  // Nanoseconds on CLOCK_MONOTONIC_COARSE: a few nanoseconds to read, ticks every few ms.
  static std::int64_t now();

 private:
  friend class DeadlineStream;
  struct Link {
    Link* prev = this;
    Link* next = this;
    DeadlineStream* stream = nullptr;  // null in a list's sentinel
  };
  struct List {
    std::int64_t timeout_ns = 0;
    Link head;  // sentinel; the oldest deadline is head.next
  };

  List& listFor(std::int64_t timeout_ns);
  void schedule(std::int64_t deadline);
  void armTimer(std::int64_t due);
  void tick();
  void sweep(std::int64_t now);

  net::io_context& ioc_;
  std::chrono::milliseconds resolution_;
  std::int64_t resolution_ns_;
  std::vector<std::unique_ptr<List>> lists_;  // a handful: one per distinct timeout
  std::size_t armed_ = 0;
  bool ticking_ = false;
  std::int64_t timer_due_ = 0;  // when the armed timer fires (now() time)
  std::uint64_t timer_seq_ = 0;
  WorkerTimer timer_;
};

class DeadlineStream {  // not final: Asio's executor traits derive from the types they test
 public:
  using executor_type = WorkerExecutor;

  explicit DeadlineStream(Deadlines& deadlines)
      : deadlines_(&deadlines), socket_(deadlines.context()) {
    link_.stream = this;
  }
  DeadlineStream(Deadlines& deadlines, Socket socket)
      : deadlines_(&deadlines), socket_(std::move(socket)) {
    link_.stream = this;
  }
  // Takes over the other's socket and deadline (its place in its list included).
  DeadlineStream(DeadlineStream&& other) noexcept
      : deadlines_(other.deadlines_),
        socket_(std::move(other.socket_)),
        list_(other.list_),
        deadline_(other.deadline_),
        expired_(other.expired_) {
    link_.stream = this;
    if (list_ != nullptr) {
      link_.prev = other.link_.prev;
      link_.next = other.link_.next;
      link_.prev->next = &link_;
      link_.next->prev = &link_;
      other.link_.prev = other.link_.next = &other.link_;
      other.list_ = nullptr;
    }
  }
  DeadlineStream& operator=(DeadlineStream&&) = delete;
  ~DeadlineStream() { unlink(); }
  DeadlineStream(const DeadlineStream&) = delete;
  DeadlineStream& operator=(const DeadlineStream&) = delete;

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  Socket& socket() { return socket_; }
  const Socket& socket() const { return socket_; }
  // For Asio's ssl::stream, which asks its next layer for these (Beast's get_lowest_layer()
  // stops at this stream, whose deadline the request path sets).
  using lowest_layer_type = Socket::lowest_layer_type;
  lowest_layer_type& lowest_layer() { return socket_.lowest_layer(); }
  const lowest_layer_type& lowest_layer() const { return socket_.lowest_layer(); }

  // The deadline of every operation from now on (reads and writes alike, as tcp_stream's).
  void expires_after(std::chrono::milliseconds timeout);
  void expires_never();
  bool expired() const { return expired_; }

  template <class MutableBuffers, class Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    if (expired_) {
      return completeTimedOut(std::forward<Handler>(handler), std::size_t{0});
    }
    socket_.async_read_some(
        buffers, Completion<std::decay_t<Handler>>{this, std::forward<Handler>(handler)});
  }

  template <class ConstBuffers, class Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    if (expired_) {
      return completeTimedOut(std::forward<Handler>(handler), std::size_t{0});
    }
    socket_.async_write_some(
        buffers, Completion<std::decay_t<Handler>>{this, std::forward<Handler>(handler)});
  }

  template <class Handler>
  void async_connect(const tcp::endpoint& endpoint, Handler&& handler) {
    if (expired_) {
      return completeTimedOut(std::forward<Handler>(handler));
    }
    socket_.async_connect(endpoint,
                          Completion<std::decay_t<Handler>>{this, std::forward<Handler>(handler)});
  }

  // The completion handler of an operation: a cancellation caused by the deadline reads as
  // beast::error::timeout. Keeps the wrapped handler's executor and allocator (below).
  template <class Handler>
  struct Completion {
    DeadlineStream* stream;
    Handler handler;
    template <class... Args>
    void operator()(error_code ec, Args&&... args) {
      if (ec == net::error::operation_aborted && stream->expired_) {
        ec = beast::error::timeout;
      }
      handler(ec, std::forward<Args>(args)...);
    }
  };

 private:
  friend class Deadlines;

  template <class Handler, class... Args>
  void completeTimedOut(Handler&& handler, Args... args) {
    net::post(socket_.get_executor(),
              beast::bind_front_handler(std::forward<Handler>(handler),
                                        error_code(beast::error::timeout), args...));
  }
  void unlink() {
    if (list_ != nullptr) {
      link_.prev->next = link_.next;
      link_.next->prev = link_.prev;
      link_.prev = link_.next = &link_;
      list_ = nullptr;
      if (deadlines_ != nullptr) {
        --deadlines_->armed_;
      }
    }
  }

  Deadlines* deadlines_;
  Socket socket_;
  Deadlines::Link link_;
  Deadlines::List* list_ = nullptr;
  std::int64_t deadline_ = 0;
  bool expired_ = false;
};

}  // namespace portico::proxy

namespace boost::asio {
template <class Handler, class Executor>
struct associated_executor<portico::proxy::DeadlineStream::Completion<Handler>, Executor> {
  using type = associated_executor_t<Handler, Executor>;
  static type get(const portico::proxy::DeadlineStream::Completion<Handler>& h,
                  const Executor& ex = Executor()) noexcept {
    return associated_executor<Handler, Executor>::get(h.handler, ex);
  }
};
template <class Handler, class Allocator>
struct associated_allocator<portico::proxy::DeadlineStream::Completion<Handler>, Allocator> {
  using type = associated_allocator_t<Handler, Allocator>;
  static type get(const portico::proxy::DeadlineStream::Completion<Handler>& h,
                  const Allocator& a = Allocator()) noexcept {
    return associated_allocator<Handler, Allocator>::get(h.handler, a);
  }
};
}  // namespace boost::asio
