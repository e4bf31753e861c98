#pragma once
// Gives freed heap pages back to the system after a large, short-lived allocation (a list of
// 10,000 objects, a full compile): glibc keeps them in the thread's malloc arena otherwise.
// A no-op under AddressSanitizer: its allocator replaces glibc's, and glibc's malloc_trim then
// walks arenas ASan never set up (it crashed a KubeSource test in the ASan run).

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PORTICO_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define PORTICO_ASAN 1
#endif

namespace portico {

inline void releaseFreedMemory() {
#if defined(__GLIBC__) && !defined(PORTICO_ASAN)
  malloc_trim(0);
#endif
}

}  // namespace portico
