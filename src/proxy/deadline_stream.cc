#include "proxy/deadline_stream.h"

#include <algorithm>
#include <climits>
#include <ctime>

namespace portico::proxy {

Deadlines::Deadlines(net::io_context& ioc, std::chrono::milliseconds resolution)
    : ioc_(ioc),
      resolution_(std::max(resolution, std::chrono::milliseconds(1))),
      resolution_ns_(std::chrono::nanoseconds(resolution_).count()),
      timer_(ioc) {}

Deadlines::~Deadlines() {
  // Streams still linked are destroyed later, with the handlers that hold them: detach them.
  for (auto& list : lists_) {
    for (Link* l = list->head.next; l != &list->head;) {
      Link* next = l->next;
      l->prev = l->next = l;
      l->stream->list_ = nullptr;
      l->stream->deadlines_ = nullptr;
      l = next;
    }
  }
}

std::int64_t Deadlines::now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Deadlines::List& Deadlines::listFor(std::int64_t timeout_ns) {
  for (auto& list : lists_) {
    if (list->timeout_ns == timeout_ns) {
      return *list;
    }
  }
  auto& list = lists_.emplace_back(std::make_unique<List>());
  list->timeout_ns = timeout_ns;
  return *list;
}

void Deadlines::schedule(std::int64_t deadline) {
  // The timer must fire within one resolution after this deadline; it usually already does
  // (deadlines set later than the earliest one need nothing), so this is a comparison.
  if (ticking_ && timer_due_ <= deadline + resolution_ns_) {
    return;
  }
  armTimer(deadline + resolution_ns_ / 2);
}

void Deadlines::armTimer(std::int64_t due) {
  ticking_ = true;
  timer_due_ = due;
  const std::uint64_t seq = ++timer_seq_;
  timer_.expires_after(std::chrono::nanoseconds(std::max<std::int64_t>(due - now(), 0)));
  timer_.async_wait([this, seq](error_code ec) {
    if (ec || seq != timer_seq_) {
      return;  // re-armed earlier, or the worker is stopping
    }
    ticking_ = false;
    tick();
  });
}

void Deadlines::tick() {
  const std::int64_t t = now();
  sweep(t);
  std::int64_t earliest = INT64_MAX;
  for (auto& list : lists_) {
    if (list->head.next != &list->head) {
      earliest = std::min(earliest, list->head.next->stream->deadline_);
    }
  }
  if (earliest != INT64_MAX) {
    armTimer(std::max(earliest, t + resolution_ns_));
  }
}

void Deadlines::sweep(std::int64_t now) {
  for (auto& list : lists_) {
    // Deadlines in one list were set in time order with the same timeout: due ones lead.
    while (list->head.next != &list->head && list->head.next->stream->deadline_ <= now) {
      DeadlineStream& s = *list->head.next->stream;
      s.unlink();
      s.expired_ = true;
      error_code ignored;
      s.socket_.cancel(ignored);
    }
  }
}

void DeadlineStream::expires_after(std::chrono::milliseconds timeout) {
  const std::int64_t timeout_ns = std::chrono::nanoseconds(timeout).count();
  expired_ = false;
  if (deadlines_ == nullptr) {
    return;  // the worker is gone: nothing enforces deadlines any more
  }
  Deadlines::List& list =
      list_ != nullptr && list_->timeout_ns == timeout_ns ? *list_ : deadlines_->listFor(timeout_ns);
  if (list_ != nullptr) {
    link_.prev->next = link_.next;
    link_.next->prev = link_.prev;
  } else {
    ++deadlines_->armed_;
  }
  deadline_ = Deadlines::now() + timeout_ns;
  link_.prev = list.head.prev;
  link_.next = &list.head;
  list.head.prev->next = &link_;
  list.head.prev = &link_;
  list_ = &list;
  deadlines_->schedule(deadline_);
}

void DeadlineStream::expires_never() {
  expired_ = false;
  unlink();
}

}  // namespace portico::proxy
