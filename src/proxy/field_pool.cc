#include "proxy/net.h"

#include <new>

namespace portico::proxy {

// GCC defines __SANITIZE_ADDRESS__; clang answers __has_feature(address_sanitizer).
#if defined(__SANITIZE_ADDRESS__)
#define PORTICO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PORTICO_ASAN 1
#endif
#endif

#if defined(PORTICO_ASAN)

void* fieldPoolAllocate(std::size_t bytes) { return ::operator new(bytes); }
void fieldPoolFree(void* p, std::size_t /*bytes*/) noexcept { ::operator delete(p); }
std::size_t fieldPoolCachedBlocks() noexcept { return 0; }
bool fieldPoolCaches() noexcept { return false; }

#else

namespace {

// Blocks are rounded up to a multiple of kGrain; sizes over kGrain * kClasses (a field over
// 512 bytes, rare) go to operator new. Each class keeps at most kCap freed blocks, so a thread
// caches at most 8 * 64 blocks of at most 512 bytes (256 KiB), and usually a few KiB.
constexpr std::size_t kGrain = 64;
constexpr std::size_t kClasses = 8;
constexpr std::uint32_t kCap = 64;

struct Block {
  Block* next;
};
struct FreeList {
  Block* head;
  std::uint32_t count;
};

// initial-exec: a fixed offset from the thread pointer, not a __tls_get_addr call (this code is
// linked into executables, never dlopen()ed).
#define PORTICO_TLS __attribute__((tls_model("initial-exec")))
constinit thread_local FreeList tl_lists[kClasses] PORTICO_TLS = {};
// kNone until the thread first caches a block (its Releaser is registered then), kActive
// after, kReleased once the Releaser has run (the thread is ending).
enum class PoolState : unsigned char { kNone, kActive, kReleased };
constinit thread_local PoolState tl_state PORTICO_TLS = PoolState::kNone;

// Returns the thread's cached blocks when it ends (once touched, its destructor runs at thread
// exit); frees after that go straight to operator delete.
struct Releaser {
  Releaser() = default;
  Releaser(const Releaser&) = delete;
  Releaser& operator=(const Releaser&) = delete;
  ~Releaser() {
    tl_state = PoolState::kReleased;
    for (FreeList& list : tl_lists) {
      while (list.head != nullptr) {
        Block* b = list.head;
        list.head = b->next;
        ::operator delete(b);
      }
      list.count = 0;
    }
  }
};

void ensureReleased() {
  thread_local Releaser releaser;
  (void)releaser;
  tl_state = PoolState::kActive;
}

// 0 wraps to a class over every class, as sizes over the largest do.
std::size_t classOf(std::size_t bytes) { return (bytes - 1) / kGrain; }

void push(FreeList& list, void* p) {
  auto* b = static_cast<Block*>(p);
  b->next = list.head;
  list.head = b;
  ++list.count;
}

}  // namespace

void* fieldPoolAllocate(std::size_t bytes) {
  if (bytes == 0 || bytes > kGrain * kClasses) {
    return ::operator new(bytes == 0 ? 1 : bytes);
  }
  const std::size_t c = classOf(bytes);
  FreeList& list = tl_lists[c];
  if (list.head != nullptr) {
    Block* b = list.head;
    list.head = b->next;
    --list.count;
    return b;
  }
  return ::operator new((c + 1) * kGrain);
}

std::size_t fieldPoolCachedBlocks() noexcept {
  std::size_t n = 0;
  for (const FreeList& list : tl_lists) {
    n += list.count;
  }
  return n;
}
bool fieldPoolCaches() noexcept { return true; }

namespace {
// A thread's first cached block (its Releaser is registered), a full class, a block over the
// largest class, or a thread that is ending.
[[gnu::noinline]] void freeSlow(void* p, std::size_t bytes) noexcept {
  const std::size_t c = classOf(bytes);
  if (c >= kClasses || tl_state == PoolState::kReleased || tl_lists[c].count >= kCap) {
    ::operator delete(p);
    return;
  }
  ensureReleased();
  push(tl_lists[c], p);
}
}  // namespace

// p is a block allocate() returned (never null), `bytes` the size it was asked for.
void fieldPoolFree(void* p, std::size_t bytes) noexcept {
  const std::size_t c = classOf(bytes);
  if (c < kClasses && tl_state == PoolState::kActive && tl_lists[c].count < kCap) {
    push(tl_lists[c], p);
    return;
  }
  freeSlow(p, bytes);
}

#endif

}  // namespace portico::proxy
