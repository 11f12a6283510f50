#pragma once
// A real weft-gossip process for tests, driven the way weft-plugin drives it:
// the test holds the other end of its IPC socket (SOCK_SEQPACKET, one JSON
// object per message). Gossip listens on a loopback address (127.0.0.0/8).
// The process is killed and reaped when the object goes away, also on failure.
//
// WEFT_GOSSIP_BIN overrides the binary (e.g. to run these tests against
// another build).

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.h"

namespace weft::test {

using Json = nlohmann::json;

inline std::string gossipBinary() {
  const char* env = std::getenv("WEFT_GOSSIP_BIN");
  return env && *env ? env : WEFT_GOSSIP_BIN;
}

// A port for this test process, so parallel runs do not collide.
inline int testPort() { return 20000 + static_cast<int>(::getpid() % 30000); }

// 32-byte keys, base64, as weft-plugin passes them.
inline const char* kKeyA = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";  // 32 x 'A'
inline const char* kKeyB = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";  // 32 x 'B'

class Sidecar {
 public:
  struct Options {
    std::string id;    // also its IP, as weft-plugin names nodes
    std::string addr;  // ip:port to bind and advertise
    std::string key = kKeyA;
    // Defaulted like key, so that {.id = ..., .addr = ...} (a first node) is
    // complete: GCC warns (-Wmissing-field-initializers) about an omitted
    // member without a default.
    std::vector<std::string> seeds = {};
  };

  Sidecar(const Options& o, const std::string& logPath) : logPath_(logPath) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0) return;
    ipc_ = sv[0];
    ::fcntl(ipc_, F_SETFD, FD_CLOEXEC);
    proc_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{gossipBinary(), "--ipc-fd", std::to_string(sv[1]), "--parent-pid",
                                 std::to_string(::getpid()), "--log-level", "info"},
        logPath);
    ::close(sv[1]);
    send(Json{{"op", "config"},
              {"id", o.id},
              {"bind", o.addr},
              {"advertise", o.addr},
              {"label", "weft"},
              {"keys", {o.key}},
              {"seeds", o.seeds}});
    send(Json{{"op", "start"}});  // no endpoints to publish first
  }
  ~Sidecar() {
    proc_.reset();
    if (ipc_ >= 0) ::close(ipc_);
  }
  Sidecar(const Sidecar&) = delete;
  Sidecar& operator=(const Sidecar&) = delete;

  void send(const Json& j) {
    std::string s = j.dump();
    (void)::send(ipc_, s.data(), s.size(), MSG_NOSIGNAL);
  }
  // The next event named `event` within `ms`; null if none came.
  Json await(const std::string& event, int ms = 5000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    std::vector<char> buf(4 << 20);
    for (;;) {
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now())
              .count());
      if (left <= 0) return nullptr;
      pollfd p{ipc_, POLLIN, 0};
      if (::poll(&p, 1, left) <= 0) continue;
      ssize_t n = ::recv(ipc_, buf.data(), buf.size(), 0);
      if (n <= 0) return nullptr;
      Json j = Json::parse(std::string(buf.data(), static_cast<size_t>(n)), nullptr, false);
      if (j.is_object() && j.value("event", "") == event) return j;
    }
  }
  bool ready() { return !await("ready").is_null(); }
  Json status(int ms = 3000) {
    send(Json{{"op", "status"}});
    return await("status", ms);
  }
  // Polls the status until `pred` holds or `ms` pass; returns the last one.
  template <class Pred>
  Json statusUntil(Pred pred, int ms) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    Json s;
    do {
      s = status();
      if (!s.is_null() && pred(s)) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (std::chrono::steady_clock::now() < end);
    return s;
  }
  std::string log() const {
    std::ifstream f(logPath_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  bool running() { return proc_ && proc_->running(); }

 private:
  std::string logPath_;
  int ipc_ = -1;
  std::unique_ptr<ChildProcess> proc_;
};

// Lines of `text` that contain `needle`.
inline size_t countLines(const std::string& text, const std::string& needle) {
  size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.find(needle) != std::string::npos) ++n;
  return n;
}

}  // namespace weft::test
