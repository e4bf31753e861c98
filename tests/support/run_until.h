#pragma once
// Runs an io_context on the calling thread until `done` holds, for at most `limit`; false when
// the limit passed first. For unit tests of the proxy's asynchronous pieces on one loop.

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>

namespace portico::testing {

inline bool runUntil(boost::asio::io_context& ioc, const std::function<bool()>& done,
                     std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) {
      return false;
    }
    ioc.restart();
    ioc.run_one_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace portico::testing
