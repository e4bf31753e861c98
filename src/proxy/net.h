#pragma once
// The short aliases for Asio and Beast, from one place (CONVENTIONS.md). Include only from
// proxy .cc files and internal proxy headers: never from headers that many files include.

#include <cstddef>
#include <cstdint>
#include <utility>  // Boost 1.74 Asio uses std::exchange without including it (C++20)

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace portico::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// "No limit" for H1Parser::bodyLimit().
inline constexpr std::uint64_t kUnlimitedBody = ~std::uint64_t{0};
}  // namespace portico::proxy
