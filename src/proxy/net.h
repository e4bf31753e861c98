#pragma once
// The short aliases for Asio and Beast, from one place (CONVENTIONS.md). Include only from
// proxy .cc files and internal proxy headers: never from headers that many files include.

#include <cstdint>
#include <optional>
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

// "No limit" for a parser's body_limit(). Not boost::none: Beast 1.74 compares the length
// against an empty optional as greater, so none rejects every Content-Length body.
inline constexpr std::uint64_t kUnlimitedBody = ~std::uint64_t{0};

// A parser's content_length() as a std::optional.
inline std::optional<std::uint64_t> toOptional(const boost::optional<std::uint64_t>& v) {
  return v ? std::optional<std::uint64_t>(*v) : std::nullopt;
}
}  // namespace portico::proxy
