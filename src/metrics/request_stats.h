#pragma once
// Per-route request series: portico_requests_total{namespace,ingress,service,host,path,method,
// status} and the request, upstream and size histograms by {namespace,ingress,service,host,path}.
//
// One RequestStats per label set, shared by every worker; each worker writes only its own cells
// (allocated by that worker on its first request there), so recording a request is a handful
// of plain stores: no lock, no shared atomic. A scrape sums the workers' cells.
//
// The label set is the route's, never the request's: `path` is the Ingress rule's path and
// `host` its host ("_" for rules without one and for requests no rule took), so the number of
// series is bounded by the configuration, whatever clients send.
//
// Threads: RequestStatsTable's get()/retain() from the control thread; record() from worker
// `worker` only; the collector from the scraping thread.

#include "metrics/registry.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portico::metrics {

// The methods counted by name; the rest are "other" (a client may send any token).
enum class Method : std::uint8_t {
  kGet,
  kHead,
  kPost,
  kPut,
  kDelete,
  kPatch,
  kOptions,
  kConnect,
  kTrace,
  kOther
};
Method methodOf(std::string_view method);
const char* methodName(Method m);

struct RequestSample {
  Method method = Method::kOther;
  unsigned status = 0;               // as the client saw it (499: it went away first)
  std::uint64_t duration_ns = 0;     // from the head parsed to the last byte handed to the socket
  std::uint64_t request_bytes = 0;   // head and body as received
  std::uint64_t response_bytes = 0;  // head and body as sent
  bool upstream = false;             // an upstream answered (the times below are set)
  std::uint64_t upstream_response_ns = 0;  // from the upstream picked to its response's end
  std::uint64_t upstream_connect_ns = 0;   // 0 for a pooled connection
};

class RequestStats final {
 public:
  // `labels`: rendered label pairs (renderLabelPairs) of namespace, ingress, service, host, path.
  RequestStats(std::string labels, std::size_t workers);
  ~RequestStats();
  RequestStats(const RequestStats&) = delete;
  RequestStats& operator=(const RequestStats&) = delete;

  void record(std::size_t worker, const RequestSample& sample);
  const std::string& labels() const { return labels_; }
  // RequestStatsTable's mark of the last retain() that kept it (the control thread only).
  std::uint64_t mark = 0;

  // Scrape: counts by (method, status) summed over the workers, and the summed histograms.
  struct Totals {
    std::map<std::uint32_t, std::uint64_t> by_key;  // statusKey(method, status) -> count
    HistogramValue duration, upstream_response, upstream_connect, request_size, response_size;
    bool any = false;  // some worker recorded a request
  };
  Totals totals() const;
  static std::uint32_t statusKey(Method m, unsigned status) {
    return (static_cast<std::uint32_t>(m) + 1) << 16 | (status & 0xFFFF);
  }

 private:
  struct Cells;
  std::string labels_;
  std::size_t workers_;
  std::unique_ptr<std::atomic<Cells*>[]> cells_;  // [worker], made by that worker
};

struct RouteStatsIndex;

class RequestStatsTable final {
 public:
  RequestStatsTable(Registry& registry, std::size_t workers);
  ~RequestStatsTable();
  RequestStatsTable(const RequestStatsTable&) = delete;
  RequestStatsTable& operator=(const RequestStatsTable&) = delete;

  // The stats of a label set, made on first use. Label values are used as given.
  std::shared_ptr<RequestStats> get(std::string_view ns, std::string_view ingress,
                                    std::string_view service, std::string_view host,
                                    std::string_view path);
  // Requests no rule took (unknown hosts, malformed requests): host "_", the rest empty.
  RequestStats& unmatched() { return *unmatched_; }
  // Drops the series whose stats `index` does not record into (a route that went away): its
  // series leave the exposition. Requests still running on an old config keep their stats
  // alive. Allocates nothing: the stats in use are marked, the others erased.
  void retain(const RouteStatsIndex& index);
  std::size_t size() const;

 private:
  void collect(Exposition& out) const;
  Registry& registry_;
  const std::size_t workers_;
  mutable std::mutex mutex_;
  // Keyed by each stats' own labels() (no second copy of 40,000 label strings).
  std::unordered_map<std::string_view, std::shared_ptr<RequestStats>> by_labels_;
  std::string key_;  // get()'s scratch
  std::uint64_t mark_ = 0;
  std::shared_ptr<RequestStats> unmatched_;
  std::uint64_t collector_ = 0;
};

// Which RequestStats a matched request records into: one slot per route of each virtual host,
// and one for the host's default backend. A forward to several target groups has one stats per
// group (the service label); the other actions have one. Built on the control thread at publish,
// immutable after; its slots keep their stats alive while requests of its config run.
struct RouteStatsIndex {
  struct Slot {
    std::shared_ptr<RequestStats> only;  // one target group, or none (redirect, fixed response)
    std::vector<std::pair<std::uint32_t, std::shared_ptr<RequestStats>>> by_group;  // several
    RequestStats* find(std::uint32_t target_group) const {
      for (const auto& [g, s] : by_group) {
        if (g == target_group) {
          return s.get();
        }
      }
      return only.get();
    }
  };
  // slots[host_offsets[h] + r] for route r of host h (the catch-all host last); the host's
  // default backend at host_offsets[h] + its route count.
  std::vector<std::uint32_t> host_offsets;
  std::vector<Slot> slots;
};

}  // namespace portico::metrics
