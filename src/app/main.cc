#include "app/app.h"
#include "app/flags.h"
#include "common/log.h"

#include <cstdio>

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto flags = portico::app::parseFlags(args);
  if (!flags) {
    std::fprintf(stderr, "portico: %s\n", flags.error().c_str());
    return 2;
  }
  if (flags->help) {
    std::fputs(portico::app::usage().c_str(), stdout);
    return 0;
  }
  portico::log::configure(flags->log_level, flags->log_format);
  return portico::app::run(*flags);
}
