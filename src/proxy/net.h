#pragma once
// The short aliases for Asio and Beast, from one place (CONVENTIONS.md). Include only from
// proxy .cc files and internal proxy headers: never from headers that many files include.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
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

// Memory for parsed header fields (one block per field, the target and the reason), from a
// per-thread cache of freed blocks in size classes instead of malloc and free: a request and
// its response allocate and free about ten such blocks, on the worker's thread, and glibc's
// free was the largest allocator cost of the request path (issue 7). Defined in field_pool.cc.
// AddressSanitizer builds use operator new and delete directly, so that a block used after
// its field was freed is still caught.
void* fieldPoolAllocate(std::size_t bytes);
void fieldPoolFree(void* p, std::size_t bytes) noexcept;
// For tests: the blocks this thread holds for reuse, and whether this build caches at all.
std::size_t fieldPoolCachedBlocks() noexcept;
bool fieldPoolCaches() noexcept;

template <class T>
struct FieldAllocator {
  using value_type = T;
  using is_always_equal = std::true_type;
  FieldAllocator() noexcept = default;
  template <class U>
  FieldAllocator(const FieldAllocator<U>&) noexcept {}  // NOLINT: rebinding is implicit
  T* allocate(std::size_t n) { return static_cast<T*>(fieldPoolAllocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { fieldPoolFree(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const FieldAllocator<U>&) const noexcept {
    return true;
  }
};

// The field container, heads and parsers of the request path.
using Fields = http::basic_fields<FieldAllocator<char>>;
using RequestHeader = http::request_header<Fields>;
using ResponseHeader = http::response_header<Fields>;
template <class Body>
using RequestParserOf = http::request_parser<Body, FieldAllocator<char>>;
template <class Body>
using ResponseParserOf = http::response_parser<Body, FieldAllocator<char>>;

// "No limit" for a parser's body_limit(). Not boost::none: Beast 1.74 compares the length
// against an empty optional as greater, so none rejects every Content-Length body.
inline constexpr std::uint64_t kUnlimitedBody = ~std::uint64_t{0};

// A parser's content_length() as a std::optional.
inline std::optional<std::uint64_t> toOptional(const boost::optional<std::uint64_t>& v) {
  return v ? std::optional<std::uint64_t>(*v) : std::nullopt;
}
}  // namespace portico::proxy
