#include "metrics/registry.h"

#include <stdexcept>

namespace portico::metrics {

std::string renderLabels(const Labels& labels) {
  if (labels.empty()) {
    return {};
  }
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += labels[i].first + "=\"";
    for (char c : labels[i].second) {
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
    out += '"';
  }
  return out + "}";
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  const std::lock_guard<std::mutex> lock(mutex_);
  Family& f = families_.try_emplace(name, Family{help, true, {}}).first->second;
  if (!f.is_counter) {
    throw std::logic_error("metric " + name + " registered as a gauge and a counter");
  }
  const std::string key = renderLabels(labels);
  auto it = f.series.find(key);
  if (it == f.series.end()) {
    counters_.emplace_back();
    it = f.series.emplace(key, counters_.size() - 1).first;
  }
  return counters_[it->second];
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  const std::lock_guard<std::mutex> lock(mutex_);
  Family& f = families_.try_emplace(name, Family{help, false, {}}).first->second;
  if (f.is_counter) {
    throw std::logic_error("metric " + name + " registered as a counter and a gauge");
  }
  const std::string key = renderLabels(labels);
  auto it = f.series.find(key);
  if (it == f.series.end()) {
    gauges_.emplace_back();
    it = f.series.emplace(key, gauges_.size() - 1).first;
  }
  return gauges_[it->second];
}

void Registry::replaceGauges(const std::string& name, const std::string& help,
                             const std::vector<std::pair<Labels, std::int64_t>>& rows) {
  std::map<std::string, std::int64_t> series;
  for (const auto& [labels, value] : rows) {
    series[renderLabels(labels)] = value;
  }
  const std::lock_guard<std::mutex> lock(mutex_);
  if (families_.count(name) > 0) {
    throw std::logic_error("metric " + name + " registered as a fixed series too");
  }
  Replaced& r = replaced_[name];
  r.help = help;
  r.series = std::move(series);
}

std::string Registry::expose() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  // Both kinds of family, merged in name order.
  auto fixed = families_.begin();
  auto replaced = replaced_.begin();
  while (fixed != families_.end() || replaced != replaced_.end()) {
    if (replaced == replaced_.end() ||
        (fixed != families_.end() && fixed->first < replaced->first)) {
      const auto& [name, f] = *fixed++;
      out += "# HELP " + name + " " + f.help + "\n";
      out += "# TYPE " + name + (f.is_counter ? " counter\n" : " gauge\n");
      for (const auto& [labels, index] : f.series) {
        const std::string value = f.is_counter ? std::to_string(counters_[index].value())
                                               : std::to_string(gauges_[index].value());
        out += name + labels + " " + value + "\n";
      }
      continue;
    }
    const auto& [name, r] = *replaced++;
    out += "# HELP " + name + " " + r.help + "\n";
    out += "# TYPE " + name + " gauge\n";
    for (const auto& [labels, value] : r.series) {
      out += name + labels + " " + std::to_string(value) + "\n";
    }
  }
  return out;
}

}  // namespace portico::metrics
