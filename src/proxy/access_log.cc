#include "proxy/access_log.h"

#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>

namespace portico::proxy {

namespace {

constexpr char kHex[] = "0123456789abcdef";

// Bytes a JSON string cannot carry as they are: control bytes, '"', '\\', DEL, and bytes over
// 0x7f (not UTF-8 we vouch for: written as \u00XX, Latin-1, so the line stays valid JSON
// whatever the client sent). nginx's default escaping takes the same bytes, as \xHH.
constexpr std::array<bool, 256> kEscape = [] {
  std::array<bool, 256> t{};
  for (std::size_t c = 0; c < 256; ++c) {
    t[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x7f;
  }
  return t;
}();

// No byte of these 8 needs escaping (kEscape), tested a word at a time: a byte under 0x20,
// 0x7f or over, '"' or '\\' sets its top bit in the result. (The zero-byte tricks can flag a
// byte after a true match, never without one, so a zero result is exact.)
inline bool plain8(std::uint64_t w) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  const auto zero = [](std::uint64_t x) { return (x - kOnes) & ~x & kHigh; };
  const std::uint64_t under = (w - kOnes * 0x20) & ~w & kHigh;
  return ((w & kHigh) | under | zero(w ^ (kOnes * '"')) | zero(w ^ (kOnes * '\\')) |
          zero(w ^ (kOnes * 0x7f))) == 0;
}

// Writes a line through a raw pointer into room the caller made (bound()): no capacity check
// per byte. A line's size is bounded by its fields' (6 bytes per escaped byte at most).
class Out {
 public:
  explicit Out(char* p) : p_(p) {}
  char* end() const { return p_; }

  void lit(std::string_view v) {
    std::memcpy(p_, v.data(), v.size());
    p_ += v.size();
  }
  void ch(char c) { *p_++ = c; }
  void uint(std::uint64_t v) { p_ = std::to_chars(p_, p_ + 20, v).ptr; }
  void digits3(unsigned v) {
    p_[0] = static_cast<char>('0' + v / 100);
    p_[1] = static_cast<char>('0' + v / 10 % 10);
    p_[2] = static_cast<char>('0' + v % 10);
    p_ += 3;
  }
  // Seconds with millisecond precision, as nginx's $request_time: "0.004".
  void seconds(std::uint64_t ns) {
    const std::uint64_t ms = (ns + 500'000) / 1'000'000;
    uint(ms / 1000);
    ch('.');
    digits3(static_cast<unsigned>(ms % 1000));
  }
  // Eight plain bytes are copied at once; a word with a byte to escape goes byte by byte. The
  // loops write through a local pointer: p_ is a member, which stores through a char* may
  // alias, so the compiler would reload and store it at every byte.
  void json(std::string_view v) {
    char* p = p_;
    *p++ = '"';
    std::size_t i = 0;
    for (; i + 8 <= v.size(); i += 8) {
      std::uint64_t w;
      std::memcpy(&w, v.data() + i, 8);
      if (plain8(w)) {
        std::memcpy(p, &w, 8);
        p += 8;
      } else {
        p = jsonBytes(p, v.data() + i, 8);
      }
    }
    p = jsonBytes(p, v.data() + i, v.size() - i);
    *p++ = '"';
    p_ = p;
  }
  static char* jsonBytes(char* p, const char* s, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      const char c = s[i];
      const auto u = static_cast<unsigned char>(c);
      if (!kEscape[u]) {
        *p++ = c;
      } else if (u == '"' || u == '\\') {
        p[0] = '\\';
        p[1] = c;
        p += 2;
      } else {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 0xF]};
        std::memcpy(p, esc, 6);
        p += 6;
      }
    }
    return p;
  }
  void nginx(std::string_view v) {
    char* p = p_;
    for (const char c : v) {
      const auto u = static_cast<unsigned char>(c);
      if (!kEscape[u]) {
        *p++ = c;
      } else {
        const char esc[4] = {'\\', 'x', kHex[u >> 4], kHex[u & 0xF]};
        std::memcpy(p, esc, 4);
        p += 4;
      }
    }
    p_ = p;
  }
  void nginxOrDash(std::string_view v) {
    if (v.empty()) {
      ch('-');
    } else {
      nginx(v);
    }
  }

 private:
  char* p_;
};

// Room for a record: its client-sent and cluster-named text escaped at worst, and the rest.
std::size_t bound(const AccessRecord& r) {
  return 6 * (r.request_id.size() + r.client.size() + r.method.size() + r.host.size() +
              r.target.size() + r.ns.size() + r.ingress.size() + r.service.size() +
              r.target_group.size() + r.referer.size() + r.user_agent.size()) +
         r.upstream.size() + 512;
}

// The time text of a second, computed once per second per thread.
struct TimeText {
  std::int64_t second = -1;
  char iso[24] = {};    // 2026-12-04T04:12:33
  char local[32] = {};  // 04/Dec/2026:04:12:33 +0000
  std::size_t iso_len = 0;
  std::size_t local_len = 0;
};

const TimeText& timeText(std::int64_t wall_ns) {
  thread_local TimeText t;
  const std::int64_t second = wall_ns / 1'000'000'000;
  if (second != t.second) {
    t.second = second;
    const std::time_t tt = static_cast<std::time_t>(second);
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    t.iso_len = std::strftime(t.iso, sizeof(t.iso), "%Y-%m-%dT%H:%M:%S", &tm);
    t.local_len = std::strftime(t.local, sizeof(t.local), "%d/%b/%Y:%H:%M:%S +0000", &tm);
  }
  return t;
}

}  // namespace

namespace {
char* writeJson(const AccessRecord& r, char* p) {
  const TimeText& t = timeText(r.wall_ns);
  Out out(p);
  out.lit("{\"time\":\"");
  out.lit({t.iso, t.iso_len});
  out.ch('.');
  out.digits3(static_cast<unsigned>(r.wall_ns / 1'000'000 % 1000));
  out.lit("Z\",\"request_id\":");
  out.json(r.request_id);
  out.lit(",\"client\":");
  out.json(r.client);
  out.lit(",\"method\":");
  out.json(r.method);
  out.lit(",\"host\":");
  out.json(r.host);
  out.lit(",\"path\":");
  out.json(r.target);
  out.lit(r.version >= 11 ? ",\"protocol\":\"HTTP/1.1\",\"status\":"
                          : ",\"protocol\":\"HTTP/1.0\",\"status\":");
  out.uint(r.status);
  out.lit(",\"bytes_in\":");
  out.uint(r.bytes_in);
  out.lit(",\"bytes_out\":");
  out.uint(r.bytes_out);
  out.lit(",\"duration\":");
  out.seconds(r.duration_ns);
  if (r.upstream.empty()) {
    out.lit(",\"upstream\":\"\",\"upstream_status\":null,\"upstream_duration\":null");
  } else {
    out.lit(",\"upstream\":\"");
    out.lit(r.upstream);  // an address portico dialled: nothing to escape
    out.ch(':');
    out.uint(r.upstream_port);
    out.lit("\",\"upstream_status\":");
    if (r.upstream_status != 0) {
      out.uint(r.upstream_status);
    } else {
      out.lit("null");
    }
    out.lit(",\"upstream_duration\":");
    out.seconds(r.upstream_duration_ns);
  }
  out.lit(",\"namespace\":");
  out.json(r.ns);
  out.lit(",\"ingress\":");
  out.json(r.ingress);
  out.lit(",\"service\":");
  out.json(r.service);
  out.lit("}\n");
  return out.end();
}

char* writeNginx(const AccessRecord& r, char* p) {
  // $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
  // "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name]
  // [$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length
  // $upstream_response_time $upstream_status $req_id
  const TimeText& t = timeText(r.wall_ns);
  Out out(p);
  out.nginxOrDash(r.client);
  out.lit(" - - [");
  out.lit({t.local, t.local_len});
  out.lit("] \"");
  out.nginx(r.method);
  out.ch(' ');
  out.nginx(r.target);
  out.lit(r.version >= 11 ? " HTTP/1.1\" " : " HTTP/1.0\" ");
  out.uint(r.status);
  out.ch(' ');
  out.uint(r.body_bytes_out);
  out.lit(" \"");
  out.nginxOrDash(r.referer);
  out.lit("\" \"");
  out.nginxOrDash(r.user_agent);
  out.lit("\" ");
  out.uint(r.bytes_in);
  out.ch(' ');
  out.seconds(r.duration_ns);
  out.lit(" [");
  out.nginx(r.target_group);
  out.lit("] [] ");
  if (r.upstream.empty()) {
    out.lit("- - - -");
  } else {
    out.lit(r.upstream);
    out.ch(':');
    out.uint(r.upstream_port);
    out.ch(' ');
    out.uint(r.upstream_bytes);
    out.ch(' ');
    out.seconds(r.upstream_duration_ns);
    out.ch(' ');
    if (r.upstream_status != 0) {
      out.uint(r.upstream_status);
    } else {
      out.ch('-');
    }
  }
  out.ch(' ');
  out.nginxOrDash(r.request_id);
  out.ch('\n');
  return out.end();
}

void append(const AccessRecord& r, std::string& line, char* (*write)(const AccessRecord&, char*)) {
  const std::size_t base = line.size();
  line.resize(base + bound(r));
  line.resize(static_cast<std::size_t>(write(r, line.data() + base) - line.data()));
}
}  // namespace

void formatAccessJson(const AccessRecord& r, std::string& out) { append(r, out, writeJson); }
void formatAccessNginx(const AccessRecord& r, std::string& out) { append(r, out, writeNginx); }

std::string_view formatAccessLine(AccessLogFormat format, const AccessRecord& r,
                                  std::string& scratch) {
  // The scratch only grows (to the largest line's bound): no fill per line.
  if (const std::size_t need = bound(r); scratch.size() < need) {
    scratch.resize(std::max(need, std::size_t{4096}));
  }
  char* end = format == AccessLogFormat::kNginx ? writeNginx(r, scratch.data())
                                                : writeJson(r, scratch.data());
  return {scratch.data(), static_cast<std::size_t>(end - scratch.data())};
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

std::size_t AccessLogRing::peek(std::string_view& first, std::string_view& second) const {
  const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
  const std::uint64_t head = head_.load(std::memory_order_acquire);
  const std::size_t n = head - tail;
  const std::size_t at = tail % capacity_;
  const std::size_t a = std::min(n, capacity_ - at);
  first = std::string_view(data_.get() + at, a);
  second = std::string_view(data_.get(), n - a);
  return n;
}

void AccessLogRing::consume(std::size_t n) {
  tail_.store(tail_.load(std::memory_order_relaxed) + n, std::memory_order_release);
}

std::size_t AccessLogRing::drain(std::string& out) {
  std::string_view a;
  std::string_view b;
  const std::size_t n = peek(a, b);
  out.append(a);
  out.append(b);
  consume(n);
  return n;
}

// ---- the writer ---------------------------------------------------------------------------

namespace {
// How long the writer sleeps when no worker pokes it: the most a line waits in a quiet moment.
constexpr std::chrono::milliseconds kIdleWait{50};

// Writes both spans; false when the descriptor is gone (EPIPE, EBADF): the lines are lost, the
// proxy goes on.
bool writeAllTo(int fd, std::string_view a, std::string_view b) {
  while (!a.empty() || !b.empty()) {
    iovec iov[2] = {{const_cast<char*>(a.data()), a.size()},
                    {const_cast<char*>(b.data()), b.size()}};
    const ssize_t n = ::writev(fd, a.empty() ? iov + 1 : iov, a.empty() ? 1 : 2);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    std::size_t done = static_cast<std::size_t>(n);
    const std::size_t from_a = std::min(done, a.size());
    a.remove_prefix(from_a);
    done -= from_a;
    b.remove_prefix(std::min(done, b.size()));
  }
  return true;
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

// Writes every ring's lines straight from the ring (no copy in between: a line is written
// once by its worker and read once by the kernel); returns the bytes written.
std::size_t AccessLogWriter::writeRings() {
  std::size_t total = 0;
  for (auto& r : rings_) {
    std::string_view a;
    std::string_view b;
    const std::size_t n = r->peek(a, b);
    if (n == 0) {
      continue;
    }
    writeAllTo(fd_, a, b);
    r->consume(n);
    total += n;
  }
  return total;
}

void AccessLogWriter::run() {
  while (true) {
    if (writeRings() > 0) {
      continue;  // more may have come while writing
    }
    std::unique_lock<std::mutex> lock(mutex_);
    if (flushes_done_ < flush_requests_) {
      // Everything pushed before the request was written above; once more for what came since.
      const std::uint64_t served = flush_requests_;
      lock.unlock();
      writeRings();
      lock.lock();
      flushes_done_ = served;
      flushed_.notify_all();
      continue;
    }
    if (stop_) {
      lock.unlock();
      writeRings();
      return;
    }
    sleeping_.store(true, std::memory_order_relaxed);
    cv_.wait_for(lock, kIdleWait);
    sleeping_.store(false, std::memory_order_relaxed);
  }
}

}  // namespace portico::proxy
