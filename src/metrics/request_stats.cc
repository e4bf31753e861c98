#include "metrics/request_stats.h"

#include <algorithm>
#include <array>

namespace portico::metrics {

namespace {
constexpr std::array<const char*, 10> kMethodNames = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other"};
}  // namespace

Method methodOf(std::string_view method) {
  for (std::size_t i = 0; i + 1 < kMethodNames.size(); ++i) {
    if (method == kMethodNames[i]) {
      return static_cast<Method>(i);
    }
  }
  return Method::kOther;
}

const char* methodName(Method m) { return kMethodNames[static_cast<std::size_t>(m)]; }

// (method, status) counters: a chain of small blocks, scanned linearly. A route sees a few
// distinct combinations, so the first block holds them all; a new combination is published with
// a release store of its key after its count, so a scrape never sees a key without its count.
namespace {
struct StatusBlock {
  static constexpr std::size_t kSlots = 8;
  std::atomic<std::uint32_t> keys[kSlots] = {};
  LocalCounter counts[kSlots];
  std::atomic<StatusBlock*> next{nullptr};

  ~StatusBlock() { delete next.load(std::memory_order_acquire); }

  void inc(std::uint32_t key) {
    StatusBlock* b = this;
    while (true) {
      for (std::size_t i = 0; i < kSlots; ++i) {
        const std::uint32_t k = b->keys[i].load(std::memory_order_relaxed);
        if (k == key) {
          b->counts[i].inc();
          return;
        }
        if (k == 0) {
          b->counts[i].inc();
          b->keys[i].store(key, std::memory_order_release);
          return;
        }
      }
      StatusBlock* next = b->next.load(std::memory_order_relaxed);
      if (next == nullptr) {
        next = new StatusBlock;
        b->next.store(next, std::memory_order_release);
      }
      b = next;
    }
  }

  void sum(std::map<std::uint32_t, std::uint64_t>& out) const {
    for (const StatusBlock* b = this; b != nullptr; b = b->next.load(std::memory_order_acquire)) {
      for (std::size_t i = 0; i < kSlots; ++i) {
        const std::uint32_t k = b->keys[i].load(std::memory_order_acquire);
        if (k == 0) {
          return;
        }
        out[k] += b->counts[i].value();
      }
    }
  }
};
}  // namespace

struct RequestStats::Cells {
  StatusBlock statuses;
  LocalHistogram duration{timeBuckets()};
  LocalHistogram upstream_response{timeBuckets()};
  LocalHistogram upstream_connect{timeBuckets()};
  LocalHistogram request_size{sizeBuckets()};
  LocalHistogram response_size{sizeBuckets()};
};

RequestStats::RequestStats(std::string labels, std::size_t workers)
    : labels_(std::move(labels)),
      workers_(workers),
      cells_(std::make_unique<std::atomic<Cells*>[]>(workers)) {
  for (std::size_t i = 0; i < workers_; ++i) {
    cells_[i].store(nullptr, std::memory_order_relaxed);
  }
}

RequestStats::~RequestStats() {
  for (std::size_t i = 0; i < workers_; ++i) {
    delete cells_[i].load(std::memory_order_acquire);
  }
}

void RequestStats::record(std::size_t worker, const RequestSample& s) {
  if (worker >= workers_) {
    return;
  }
  Cells* c = cells_[worker].load(std::memory_order_relaxed);
  if (c == nullptr) {
    c = new Cells;
    cells_[worker].store(c, std::memory_order_release);
  }
  c->statuses.inc(statusKey(s.method, s.status));
  c->duration.observe(s.duration_ns);
  c->request_size.observe(s.request_bytes);
  c->response_size.observe(s.response_bytes);
  if (s.upstream) {
    c->upstream_response.observe(s.upstream_response_ns);
    c->upstream_connect.observe(s.upstream_connect_ns);
  }
}

RequestStats::Totals RequestStats::totals() const {
  Totals t;
  for (std::size_t i = 0; i < workers_; ++i) {
    const Cells* c = cells_[i].load(std::memory_order_acquire);
    if (c == nullptr) {
      continue;
    }
    t.any = true;
    c->statuses.sum(t.by_key);
    t.duration.add(c->duration.read());
    t.upstream_response.add(c->upstream_response.read());
    t.upstream_connect.add(c->upstream_connect.read());
    t.request_size.add(c->request_size.read());
    t.response_size.add(c->response_size.read());
  }
  return t;
}

// ---- the table ----------------------------------------------------------------------------

namespace {
void appendLabels(std::string& out, std::string_view ns, std::string_view ingress,
                  std::string_view service, std::string_view host, std::string_view path) {
  const std::pair<const char*, std::string_view> pairs[] = {{"namespace", ns},
                                                            {"ingress", ingress},
                                                            {"service", service},
                                                            {"host", host},
                                                            {"path", path}};
  for (const auto& [name, value] : pairs) {
    if (!out.empty()) {
      out += ',';
    }
    out += name;
    out += "=\"";
    appendEscaped(out, value);
    out += '"';
  }
}

std::string labelsOf(std::string_view ns, std::string_view ingress, std::string_view service,
                     std::string_view host, std::string_view path) {
  std::string out;
  appendLabels(out, ns, ingress, service, host, path);
  return out;
}
}  // namespace

RequestStatsTable::RequestStatsTable(Registry& registry, std::size_t workers)
    : registry_(registry),
      workers_(workers),
      unmatched_(std::make_shared<RequestStats>(labelsOf("", "", "", "_", ""), workers)) {
  collector_ = registry_.addCollector([this](Exposition& out) { collect(out); });
}

RequestStatsTable::~RequestStatsTable() { registry_.removeCollector(collector_); }

std::shared_ptr<RequestStats> RequestStatsTable::get(std::string_view ns, std::string_view ingress,
                                                     std::string_view service,
                                                     std::string_view host, std::string_view path) {
  const std::lock_guard<std::mutex> lock(mutex_);
  key_.clear();
  appendLabels(key_, ns, ingress, service, host, path);
  auto it = by_labels_.find(key_);
  if (it == by_labels_.end()) {
    auto stats = std::make_shared<RequestStats>(key_, workers_);
    const std::string_view key = stats->labels();
    it = by_labels_.emplace(key, std::move(stats)).first;
  }
  return it->second;
}

void RequestStatsTable::retain(const RouteStatsIndex& index) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const std::uint64_t mark = ++mark_;
  for (const RouteStatsIndex::Slot& slot : index.slots) {
    if (slot.only != nullptr) {
      slot.only->mark = mark;
    }
    for (const auto& [group, s] : slot.by_group) {
      s->mark = mark;
    }
  }
  for (auto it = by_labels_.begin(); it != by_labels_.end();) {
    if (it->second->mark != mark) {
      it = by_labels_.erase(it);
    } else {
      ++it;
    }
  }
}

std::size_t RequestStatsTable::size() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return by_labels_.size();
}

void RequestStatsTable::collect(Exposition& out) const {
  // Label strings are copied: retain() on the control thread may drop a stats meanwhile.
  std::vector<std::pair<std::string, RequestStats::Totals>> rows;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    rows.reserve(by_labels_.size() + 1);
    const auto add = [&rows](const RequestStats& s) {
      RequestStats::Totals t = s.totals();
      if (t.any) {
        rows.emplace_back(s.labels(), std::move(t));
      }
    };
    for (const auto& [labels, stats] : by_labels_) {
      add(*stats);
    }
  }
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  if (RequestStats::Totals t = unmatched_->totals(); t.any) {
    rows.emplace(rows.begin(), unmatched_->labels(), std::move(t));
  }
  out.family("portico_requests_total",
             "Requests answered, by route (the Ingress rule's host and path), method and status.",
             Type::kCounter);
  std::string labels;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (const auto& [key, count] : rows[i].second.by_key) {
      labels = rows[i].first;
      labels += ",method=\"";
      labels += methodName(static_cast<Method>((key >> 16) - 1));
      labels += "\",status=\"";
      labels += std::to_string(key & 0xFFFF);
      labels += '"';
      out.sample(labels, count);
    }
  }
  struct Hist {
    const char* name;
    const char* help;
    HistogramValue RequestStats::Totals::*member;
  };
  static constexpr Hist kHistograms[] = {
      {"portico_request_duration_seconds",
       "Time from a request's head to its response's last byte, by route.",
       &RequestStats::Totals::duration},
      {"portico_upstream_response_duration_seconds",
       "Time from an upstream picked to its response's end, by route.",
       &RequestStats::Totals::upstream_response},
      {"portico_upstream_connect_duration_seconds",
       "Time to connect to the upstream (0 on a pooled connection), by route.",
       &RequestStats::Totals::upstream_connect},
      {"portico_request_size_bytes", "Request sizes (head and body as received), by route.",
       &RequestStats::Totals::request_size},
      {"portico_response_size_bytes", "Response sizes (head and body as sent), by route.",
       &RequestStats::Totals::response_size},
  };
  for (const Hist& h : kHistograms) {
    out.family(h.name, h.help, Type::kHistogram);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const HistogramValue& v = rows[i].second.*h.member;
      if (v.buckets != nullptr) {
        out.histogram(rows[i].first, v);
      }
    }
  }
}

}  // namespace portico::metrics
