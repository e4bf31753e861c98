#include "metrics/registry.h"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace portico::metrics {

Buckets::Buckets(std::vector<double> bounds, double unit)
    : bounds_(std::move(bounds)), unit_(unit) {
  if (bounds_.size() > kMax) {
    throw std::logic_error("a histogram has at most 15 buckets");
  }
  for (double b : bounds_) {
    ticks_.push_back(static_cast<std::uint64_t>(std::llround(b / unit_)));
  }
}

const Buckets& timeBuckets() {
  static const Buckets b({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}, 1e-9);
  return b;
}

const Buckets& sizeBuckets() {
  static const Buckets b({10, 100, 1e3, 1e4, 1e5, 1e6, 1e7}, 1);
  return b;
}

void HistogramValue::add(const HistogramValue& other) {
  if (buckets == nullptr) {
    *this = other;
    return;
  }
  for (std::size_t i = 0; i < counts.size() && i < other.counts.size(); ++i) {
    counts[i] += other.counts[i];
  }
  sum += other.sum;
}

Format negotiate(std::string_view accept) {
  return accept.find("application/openmetrics-text") != std::string_view::npos
             ? Format::kOpenMetrics
             : Format::kText;
}

void appendEscaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

std::string renderLabelPairs(const Labels& labels) {
  std::string out;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += labels[i].first;
    out += "=\"";
    appendEscaped(out, labels[i].second);
    out += '"';
  }
  return out;
}

std::string renderLabels(const Labels& labels) {
  return labels.empty() ? std::string() : "{" + renderLabelPairs(labels) + "}";
}

// ---- Exposition ---------------------------------------------------------------------------

namespace {
constexpr std::string_view kTotal = "_total";

void appendNumber(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out.append(buf, r.ptr);
  }
}
}  // namespace

void Exposition::family(std::string_view name, std::string_view help, Type type) {
  name_ = std::string(name);
  auto [it, fresh] = families_.try_emplace(name_);
  if (!fresh) {
    throw std::logic_error("metric family " + name_ + " written twice");
  }
  out_ = &it->second;
  std::string_view shown = name;
  if (format_ == Format::kOpenMetrics && type == Type::kCounter && shown.size() > kTotal.size() &&
      shown.substr(shown.size() - kTotal.size()) == kTotal) {
    shown.remove_suffix(kTotal.size());
  }
  static constexpr std::string_view kTypes[] = {"counter", "gauge", "histogram"};
  *out_ += "# HELP ";
  *out_ += shown;
  *out_ += ' ';
  *out_ += help;
  *out_ += "\n# TYPE ";
  *out_ += shown;
  *out_ += ' ';
  *out_ += kTypes[static_cast<int>(type)];
  *out_ += '\n';
}

void Exposition::begin(std::string_view suffix, std::string_view labels) {
  *out_ += name_;
  *out_ += suffix;
  if (!labels.empty()) {
    *out_ += '{';
    *out_ += labels;
    *out_ += '}';
  }
  *out_ += ' ';
}

void Exposition::sample(std::string_view labels, std::uint64_t value) {
  begin({}, labels);
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), value);
  out_->append(buf, r.ptr);
  *out_ += '\n';
}

void Exposition::sample(std::string_view labels, std::int64_t value) {
  begin({}, labels);
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), value);
  out_->append(buf, r.ptr);
  *out_ += '\n';
}

void Exposition::sample(std::string_view labels, double value) {
  begin({}, labels);
  appendNumber(*out_, value);
  *out_ += '\n';
}

void Exposition::histogram(std::string_view labels, const HistogramValue& value) {
  if (value.buckets == nullptr) {
    return;
  }
  const Buckets& b = *value.buckets;
  std::uint64_t cumulative = 0;
  std::string le;
  for (std::size_t i = 0; i <= b.size(); ++i) {
    cumulative += i < value.counts.size() ? value.counts[i] : 0;
    le.assign(labels);
    if (!le.empty()) {
      le += ',';
    }
    le += "le=\"";
    if (i < b.size()) {
      appendNumber(le, b.bound(i));
    } else {
      le += "+Inf";
    }
    le += '"';
    begin("_bucket", le);
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof(buf), cumulative);
    out_->append(buf, r.ptr);
    *out_ += '\n';
  }
  begin("_sum", labels);
  // Divided by the ticks per unit (1e9, exact) rather than times 1e-9 (inexact): 20.031, not
  // 20.031000000000002.
  appendNumber(*out_, static_cast<double>(value.sum) / std::round(1.0 / b.unit()));
  *out_ += '\n';
  begin("_count", labels);
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), cumulative);
  out_->append(buf, r.ptr);
  *out_ += '\n';
}

std::string Exposition::finish() {
  std::string out;
  std::size_t n = 0;
  for (const auto& [name, text] : families_) {
    n += text.size();
  }
  out.reserve(n + 8);
  for (const auto& [name, text] : families_) {
    out += text;
  }
  if (format_ == Format::kOpenMetrics) {
    out += "# EOF\n";
  }
  families_.clear();
  out_ = nullptr;
  return out;
}

// ---- Registry -----------------------------------------------------------------------------

Registry::Family& Registry::familyFor(const std::string& name, const std::string& help, Type type) {
  if (replaced_.count(name) > 0) {
    throw std::logic_error("metric " + name + " registered as a replaced family too");
  }
  Family& f = families_.try_emplace(name, Family{help, type, {}}).first->second;
  if (f.type != type) {
    throw std::logic_error("metric " + name + " registered with two types");
  }
  return f;
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  const std::lock_guard<std::mutex> lock(mutex_);
  Family& f = familyFor(name, help, Type::kCounter);
  auto [it, fresh] = f.series.try_emplace(renderLabelPairs(labels), counters_.size());
  if (fresh) {
    counters_.emplace_back();
  }
  return counters_[it->second];
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  const std::lock_guard<std::mutex> lock(mutex_);
  Family& f = familyFor(name, help, Type::kGauge);
  auto [it, fresh] = f.series.try_emplace(renderLabelPairs(labels), gauges_.size());
  if (fresh) {
    gauges_.emplace_back();
  }
  return gauges_[it->second];
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               const Buckets& buckets, const Labels& labels) {
  const std::lock_guard<std::mutex> lock(mutex_);
  Family& f = familyFor(name, help, Type::kHistogram);
  auto [it, fresh] = f.series.try_emplace(renderLabelPairs(labels), histograms_.size());
  if (fresh) {
    histograms_.emplace_back(buckets);
  }
  return histograms_[it->second];
}

void Registry::replaceGauges(const std::string& name, const std::string& help,
                             const std::vector<std::pair<Labels, std::int64_t>>& rows) {
  std::map<std::string, std::int64_t> series;
  for (const auto& [labels, value] : rows) {
    series[renderLabelPairs(labels)] = value;
  }
  const std::lock_guard<std::mutex> lock(mutex_);
  if (families_.count(name) > 0) {
    throw std::logic_error("metric " + name + " registered as a fixed series too");
  }
  Replaced& r = replaced_[name];
  r.help = help;
  r.series = std::move(series);
}

std::uint64_t Registry::addCollector(Collector collector) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const std::uint64_t id = next_collector_++;
  collectors_.emplace(id, std::move(collector));
  return id;
}

void Registry::removeCollector(std::uint64_t id) {
  const std::lock_guard<std::mutex> lock(mutex_);
  collectors_.erase(id);
}

std::string Registry::expose(Format format) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  Exposition out(format);
  for (const auto& [name, f] : families_) {
    out.family(name, f.help, f.type);
    for (const auto& [labels, index] : f.series) {
      switch (f.type) {
        case Type::kCounter:
          out.sample(labels, counters_[index].value());
          break;
        case Type::kGauge:
          out.sample(labels, gauges_[index].value());
          break;
        case Type::kHistogram:
          out.histogram(labels, histograms_[index].read());
          break;
      }
    }
  }
  for (const auto& [name, r] : replaced_) {
    out.family(name, r.help, Type::kGauge);
    for (const auto& [labels, value] : r.series) {
      out.sample(labels, value);
    }
  }
  for (const auto& [id, collect] : collectors_) {
    collect(out);
  }
  return out.finish();
}

}  // namespace portico::metrics
