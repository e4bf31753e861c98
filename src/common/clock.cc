#include "common/clock.h"

namespace portico {

const Clock& Clock::system() {
  static const SystemClock clock;
  return clock;
}

}  // namespace portico
