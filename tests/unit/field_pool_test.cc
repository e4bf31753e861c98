// The field allocator's per-thread cache: blocks are reused by size class, bounded, returned
// when their thread ends, and the fields and parsers built on it behave as Beast's own.

#include "proxy/net.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

namespace portico::proxy {
namespace {

TEST(FieldPool, ABlockIsReusedWithinItsSizeClass) {
  if (!fieldPoolCaches()) {
    GTEST_SKIP() << "sanitizer build: plain operator new and delete";
  }
  void* a = fieldPoolAllocate(40);
  std::memset(a, 0xab, 64);  // the whole class size is usable
  fieldPoolFree(a, 40);
  EXPECT_EQ(fieldPoolAllocate(64), a);  // 33..64 bytes: one class
  void* b = fieldPoolAllocate(65);
  EXPECT_NE(b, a);
  fieldPoolFree(a, 64);
  fieldPoolFree(b, 65);
}

TEST(FieldPool, LargeBlocksAndTheCapGoToTheSystem) {
  void* big = fieldPoolAllocate(4096);
  std::memset(big, 1, 4096);
  const std::size_t before = fieldPoolCachedBlocks();
  fieldPoolFree(big, 4096);
  EXPECT_EQ(fieldPoolCachedBlocks(), before);  // never cached
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) {
    blocks.push_back(fieldPoolAllocate(100));
  }
  for (void* p : blocks) {
    fieldPoolFree(p, 100);
  }
  // Eight classes of at most 64 blocks: a burst does not stay cached.
  EXPECT_LE(fieldPoolCachedBlocks(), 8u * 64u);
}

TEST(FieldPool, AThreadThatEndsGivesItsBlocksBack) {
  std::size_t cached_in_thread = 0;
  std::thread t([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 10; ++i) {
      blocks.push_back(fieldPoolAllocate(200));
    }
    for (void* p : blocks) {
      fieldPoolFree(p, 200);
    }
    cached_in_thread = fieldPoolCachedBlocks();
  });
  t.join();
  // Under valgrind or LeakSanitizer a leak here would show; the count shows they were cached.
  EXPECT_EQ(cached_in_thread, fieldPoolCaches() ? 10u : 0u);
}

TEST(FieldPool, FieldsOnItBehaveAsBeastFields) {
  std::string raw = "GET /a HTTP/1.1\r\nHost: h.test\r\nX-Long: " + std::string(3000, 'v') +
                    "\r\nAccept: */*\r\nAccept: text/plain\r\n\r\n";
  for (int round = 0; round < 3; ++round) {  // the second and third reuse the blocks
    RequestParserOf<http::empty_body> parser;
    parser.header_limit(16 * 1024);
    error_code ec;
    parser.put(net::buffer(raw), ec);
    ASSERT_FALSE(ec) << ec.message();
    const auto& req = parser.get();
    EXPECT_EQ(req.target(), "/a");
    EXPECT_EQ(req[http::field::host], "h.test");
    EXPECT_EQ(req["x-long"].size(), 3000u);
    EXPECT_EQ(req.count(http::field::accept), 2u);
    Fields copy = req.base();
    copy.erase(http::field::accept);
    copy.set("X-New", "1");
    EXPECT_EQ(copy.count(http::field::accept), 0u);
    EXPECT_EQ(copy["X-New"], "1");
  }
}

}  // namespace
}  // namespace portico::proxy
