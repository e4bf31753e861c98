// test-apiserver --port N --kubeconfig-out PATH --data-dir DIR [--persist false]
// Writes the kubeconfig first, then prints "listening on https://127.0.0.1:PORT"; logs to stderr.
#include "apiserver/server.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

int main(int argc, char** argv) {
  portico::apiserver::ServerOptions options;
  std::string kubeconfig_out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "test-apiserver: %s needs a value\n", a.c_str());
      return 2;
    }
    const std::string v = argv[++i];
    if (a == "--port") {
      options.port = static_cast<std::uint16_t>(std::strtoul(v.c_str(), nullptr, 10));
    } else if (a == "--kubeconfig-out") {
      kubeconfig_out = v;
    } else if (a == "--data-dir") {
      options.data_dir = v;
    } else if (a == "--persist" && (v == "true" || v == "false")) {
      options.persist = v == "true";
    } else if (a == "--bookmark-interval-ms") {
      options.bookmark_interval = std::chrono::milliseconds(std::strtoul(v.c_str(), nullptr, 10));
    } else {
      std::fprintf(stderr,
                   "usage: test-apiserver --port N --kubeconfig-out PATH --data-dir DIR "
                   "[--bookmark-interval-ms N] [--persist true|false]\n");
      return 2;
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  portico::apiserver::ApiServer server(options);
  std::uint16_t port = 0;
  try {
    port = server.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "test-apiserver: %s\n", e.what());
    return 1;
  }
  if (!kubeconfig_out.empty()) {
    std::ofstream out(kubeconfig_out);
    out << server.kubeconfig();
  }
  std::printf("listening on https://127.0.0.1:%u\n", port);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  server.stop();
  return 0;
}
