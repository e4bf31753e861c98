#pragma once
// Reading a Prometheus text exposition in tests.

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace portico::testing {

// The sum of the samples of `name` (exactly that name, any labels) whose label text contains
// every string of `has`: metricSum(text, "portico_requests_total", {"status=\"404\""}).
inline double metricSum(const std::string& text, const std::string& name,
                        const std::vector<std::string>& has = {}) {
  std::istringstream in(text);
  std::string line;
  double sum = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.compare(0, name.size(), name) != 0) {
      continue;
    }
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != '{' && next != ' ') {
      continue;
    }
    const std::size_t space = line.rfind(' ');
    const std::string labels = line.substr(name.size(), space - name.size());
    bool all = true;
    for (const auto& h : has) {
      all = all && labels.find(h) != std::string::npos;
    }
    if (all) {
      sum += std::strtod(line.c_str() + space + 1, nullptr);
    }
  }
  return sum;
}

}  // namespace portico::testing
