#pragma once
// A raw upstream for tests of what the proxy does with careless or hostile upstreams: it records
// every request head it receives and answers each one with bytes a script chooses, byte for
// byte, so responses no real server library would write can be sent.
//
// Threads: start() runs an accept thread and one thread per connection; stop() (or the
// destructor) ends them. heads(), requestCount() and received() from any thread.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace portico::testing {

class ScriptedUpstream final {
 public:
  enum class After {
    kClose,      // close the connection after the reply
    kKeepAlive,  // read the next request head on the same connection
    kDrain       // keep reading (and recording) until the proxy closes
  };
  struct Reply {
    std::string bytes;
    After after = After::kClose;
    bool gated = false;  // wait for release() before writing
  };
  using Script = std::function<Reply(const std::string& head)>;

  explicit ScriptedUpstream(Script script);
  ~ScriptedUpstream();
  ScriptedUpstream(const ScriptedUpstream&) = delete;
  ScriptedUpstream& operator=(const ScriptedUpstream&) = delete;

  std::uint16_t start();  // 127.0.0.1, port 0; returns the port
  void stop();
  void release();  // lets gated replies go

  std::vector<std::string> heads() const;
  std::size_t requestCount() const;
  std::string received() const;  // every byte received, all connections in arrival order

 private:
  void acceptLoop();
  void serve(int fd);

  Script script_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  bool released_ = false;
  mutable std::mutex mutex_;
  std::condition_variable released_cv_;
  std::vector<std::string> heads_;
  std::string received_;
  std::vector<int> fds_;
  std::thread accept_thread_;
  std::vector<std::thread> threads_;
};

// "HTTP/1.1 200 OK" with the given extra head lines and body, framed by Content-Length.
std::string cannedResponse(const std::string& status_line, const std::string& extra_head,
                           const std::string& body);

}  // namespace portico::testing
