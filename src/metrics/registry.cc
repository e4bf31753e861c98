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

std::string Registry::expose() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n";
    out += "# TYPE " + name + (f.is_counter ? " counter\n" : " gauge\n");
    for (const auto& [labels, index] : f.series) {
      const std::string value = f.is_counter ? std::to_string(counters_[index].value())
                                             : std::to_string(gauges_[index].value());
      out += name + labels + " " + value + "\n";
    }
  }
  return out;
}

}  // namespace portico::metrics
