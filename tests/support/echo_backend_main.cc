// echo-backend --port N --name NAME [--bind ADDR]: see echo_backend.h.
#include "echo_backend.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  std::string name = "echo";
  std::string bind = "127.0.0.1";
  long port = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--port" || a == "--name" || a == "--bind") && i + 1 < argc) {
      const std::string v = argv[++i];
      if (a == "--port") {
        char* end = nullptr;
        port = std::strtol(v.c_str(), &end, 10);
        if (*end != '\0' || port < 0 || port > 65535) {
          std::fprintf(stderr, "echo-backend: --port %s: expected 0 to 65535\n", v.c_str());
          return 2;
        }
      } else if (a == "--name") {
        name = v;
      } else {
        bind = v;
      }
    } else {
      std::fprintf(stderr, "usage: echo-backend --port N --name NAME [--bind ADDR]\n");
      return 2;
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  portico::testing::EchoBackend backend(name);
  const auto bound = backend.start(static_cast<std::uint16_t>(port), bind);
  if (bound == 0) {
    std::fprintf(stderr, "echo-backend: cannot listen on %s:%ld\n", bind.c_str(), port);
    return 1;
  }
  std::printf("listening on %s:%u\n", bind.c_str(), bound);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  backend.stop();
  return 0;
}
