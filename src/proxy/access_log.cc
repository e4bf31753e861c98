#include "proxy/access_log.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>

namespace portico::proxy {

namespace {

void appendUint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

// Seconds with millisecond precision, as nginx's $request_time: "0.004".
void appendSeconds(std::string& out, std::uint64_t ns) {
  const std::uint64_t ms = (ns + 500'000) / 1'000'000;
  appendUint(out, ms / 1000);
  out += '.';
  const unsigned frac = static_cast<unsigned>(ms % 1000);
  out += static_cast<char>('0' + frac / 100);
  out += static_cast<char>('0' + frac / 10 % 10);
  out += static_cast<char>('0' + frac % 10);
}

constexpr char kHex[] = "0123456789abcdef";

void appendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else if (c >= 0x80) {
      // Not UTF-8 we vouch for: bytes over 0x7f are written as \u00XX (Latin-1), so the line
      // stays valid JSON whatever the client sent.
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += ch;
    }
  }
  out += '"';
}

// nginx's default escaping: '"', '\' and bytes outside printable ASCII as \xHH.
void appendNginxText(std::string& out, std::string_view s) {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += ch;
    }
  }
}

void appendDash(std::string& out, std::string_view s) {
  if (s.empty()) {
    out += '-';
  } else {
    appendNginxText(out, s);
  }
}

// The time text of a second, computed once per second per thread.
struct TimeText {
  std::int64_t second = -1;
  char iso[24] = {};    // 2026-12-04T04:12:33
  char local[32] = {};  // 04/Dec/2026:04:12:33 +0000
};

const TimeText& timeText(std::int64_t wall_ns) {
  thread_local TimeText t;
  const std::int64_t second = wall_ns / 1'000'000'000;
  if (second != t.second) {
    t.second = second;
    const std::time_t tt = static_cast<std::time_t>(second);
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    std::strftime(t.iso, sizeof(t.iso), "%Y-%m-%dT%H:%M:%S", &tm);
    std::strftime(t.local, sizeof(t.local), "%d/%b/%Y:%H:%M:%S +0000", &tm);
  }
  return t;
}

}  // namespace

void formatAccessJson(const AccessRecord& r, std::string& out) {
  const TimeText& t = timeText(r.wall_ns);
  out += "{\"time\":\"";
  out += t.iso;
  out += '.';
  const unsigned ms = static_cast<unsigned>(r.wall_ns / 1'000'000 % 1000);
  out += static_cast<char>('0' + ms / 100);
  out += static_cast<char>('0' + ms / 10 % 10);
  out += static_cast<char>('0' + ms % 10);
  out += "Z\",\"request_id\":";
  appendJsonString(out, r.request_id);
  out += ",\"client\":";
  appendJsonString(out, r.client);
  out += ",\"method\":";
  appendJsonString(out, r.method);
  out += ",\"host\":";
  appendJsonString(out, r.host);
  out += ",\"path\":";
  appendJsonString(out, r.target);
  out += r.version >= 11 ? ",\"protocol\":\"HTTP/1.1\"" : ",\"protocol\":\"HTTP/1.0\"";
  out += ",\"status\":";
  appendUint(out, r.status);
  out += ",\"bytes_in\":";
  appendUint(out, r.bytes_in);
  out += ",\"bytes_out\":";
  appendUint(out, r.bytes_out);
  out += ",\"duration\":";
  appendSeconds(out, r.duration_ns);
  out += ",\"upstream\":";
  appendJsonString(out, r.upstream);
  out += ",\"upstream_status\":";
  if (r.upstream_status != 0) {
    appendUint(out, r.upstream_status);
  } else {
    out += "null";
  }
  out += ",\"upstream_duration\":";
  if (!r.upstream.empty()) {
    appendSeconds(out, r.upstream_duration_ns);
  } else {
    out += "null";
  }
  out += ",\"namespace\":";
  appendJsonString(out, r.ns);
  out += ",\"ingress\":";
  appendJsonString(out, r.ingress);
  out += ",\"service\":";
  appendJsonString(out, r.service);
  out += "}\n";
}

void formatAccessNginx(const AccessRecord& r, std::string& out) {
  // $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
  // "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name]
  // [$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length
  // $upstream_response_time $upstream_status $req_id
  appendDash(out, r.client);
  out += " - - [";
  out += timeText(r.wall_ns).local;
  out += "] \"";
  appendNginxText(out, r.method);
  out += ' ';
  appendNginxText(out, r.target);
  out += r.version >= 11 ? " HTTP/1.1\" " : " HTTP/1.0\" ";
  appendUint(out, r.status);
  out += ' ';
  appendUint(out, r.body_bytes_out);
  out += " \"";
  appendDash(out, r.referer);
  out += "\" \"";
  appendDash(out, r.user_agent);
  out += "\" ";
  appendUint(out, r.bytes_in);
  out += ' ';
  appendSeconds(out, r.duration_ns);
  out += " [";
  appendNginxText(out, r.target_group);
  out += "] [] ";
  if (r.upstream.empty()) {
    out += "- - - -";
  } else {
    appendNginxText(out, r.upstream);
    out += ' ';
    appendUint(out, r.upstream_bytes);
    out += ' ';
    appendSeconds(out, r.upstream_duration_ns);
    out += ' ';
    if (r.upstream_status != 0) {
      appendUint(out, r.upstream_status);
    } else {
      out += '-';
    }
  }
  out += ' ';
  appendDash(out, r.request_id);
  out += '\n';
}

// ---- the ring -----------------------------------------------------------------------------

AccessLogRing::AccessLogRing(std::size_t capacity)
    : capacity_(capacity), data_(std::make_unique<char[]>(capacity)) {}

bool AccessLogRing::push(std::string_view line) {
  const std::uint64_t head = head_.load(std::memory_order_relaxed);
  const std::uint64_t tail = tail_.load(std::memory_order_acquire);
  if (line.size() > capacity_ - (head - tail)) {
    return false;
  }
  const std::size_t at = head % capacity_;
  const std::size_t first = std::min(line.size(), capacity_ - at);
  std::memcpy(data_.get() + at, line.data(), first);
  std::memcpy(data_.get(), line.data() + first, line.size() - first);
  head_.store(head + line.size(), std::memory_order_release);
  return true;
}

std::size_t AccessLogRing::drain(std::string& out) {
  const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
  const std::uint64_t head = head_.load(std::memory_order_acquire);
  const std::size_t n = head - tail;
  if (n == 0) {
    return 0;
  }
  const std::size_t at = tail % capacity_;
  const std::size_t first = std::min(n, capacity_ - at);
  out.append(data_.get() + at, first);
  out.append(data_.get(), n - first);
  tail_.store(head, std::memory_order_release);
  return n;
}

// ---- the writer ---------------------------------------------------------------------------

namespace {
// How long the writer sleeps when no worker pokes it: the most a line waits in a quiet moment.
constexpr std::chrono::milliseconds kIdleWait{200};

void writeAllTo(int fd, const std::string& buf) {
  std::size_t off = 0;
  while (off < buf.size()) {
    const ssize_t n = ::write(fd, buf.data() + off, buf.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;  // stdout is gone (EPIPE, EBADF): the lines are lost, the proxy goes on
    }
    off += static_cast<std::size_t>(n);
  }
}
}  // namespace

AccessLogWriter::AccessLogWriter(std::size_t workers, std::size_t ring_bytes, int fd) : fd_(fd) {
  for (std::size_t i = 0; i < workers; ++i) {
    rings_.push_back(std::make_unique<AccessLogRing>(ring_bytes));
  }
  thread_ = std::thread([this] { run(); });
}

AccessLogWriter::~AccessLogWriter() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void AccessLogWriter::poke() {
  if (sleeping_.load(std::memory_order_relaxed)) {
    sleeping_.store(false, std::memory_order_relaxed);
    cv_.notify_one();
  }
}

void AccessLogWriter::flush() {
  std::unique_lock<std::mutex> lock(mutex_);
  const std::uint64_t ticket = ++flush_requests_;
  cv_.notify_one();
  flushed_.wait(lock, [&] { return flushes_done_ >= ticket || stop_; });
}

std::size_t AccessLogWriter::drainAll(std::string& buf) {
  std::size_t n = 0;
  for (auto& r : rings_) {
    n += r->drain(buf);
  }
  return n;
}

void AccessLogWriter::run() {
  std::string buf;
  while (true) {
    buf.clear();
    drainAll(buf);
    if (!buf.empty()) {
      writeAllTo(fd_, buf);
      continue;  // more may have come while writing
    }
    std::unique_lock<std::mutex> lock(mutex_);
    if (flushes_done_ < flush_requests_) {
      // Everything pushed before the request was drained and written above.
      lock.unlock();
      buf.clear();
      drainAll(buf);
      writeAllTo(fd_, buf);
      lock.lock();
      flushes_done_ = flush_requests_;
      flushed_.notify_all();
      continue;
    }
    if (stop_) {
      lock.unlock();
      buf.clear();
      drainAll(buf);
      writeAllTo(fd_, buf);
      return;
    }
    sleeping_.store(true, std::memory_order_relaxed);
    cv_.wait_for(lock, kIdleWait);
    sleeping_.store(false, std::memory_order_relaxed);
  }
}

}  // namespace portico::proxy
