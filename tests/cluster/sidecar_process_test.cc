// The supervisor with the real weft-gossip binary on loopback: a host with
// 5,000 joined endpoints gets a running sidecar (issue 10: the configuration
// outgrew one IPC message at ~1,100 and the sidecar never became ready).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "cluster/supervisor.h"

using namespace weft;
using namespace weft::cluster;
using namespace std::chrono;

namespace {

class NullSink : public driver::PeerSink {
 public:
  void applyRemote(const driver::EndpointRecord&, bool) override {}
  void beginResync() override {}
  size_t prunePeers() override { return 0; }
};

// A loopback port free for both TCP and UDP right now.
uint16_t freePort() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int t = ::socket(AF_INET, SOCK_STREAM, 0), u = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    uint16_t port = 0;
    if (::bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(t, reinterpret_cast<sockaddr*>(&a), &len) == 0 &&
        ::bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0)
      port = ntohs(a.sin_port);
    ::close(t);
    ::close(u);
    if (port) return port;
  }
  return 0;
}

}  // namespace

TEST(SidecarProcess, BecomesReadyWith5000LocalEndpoints) {
  uint16_t port = freePort();
  ASSERT_NE(port, 0);
  std::string addr = "127.0.0.1:" + std::to_string(port);
  SupervisorOptions o;
  o.config = {"127.0.0.1", addr, addr, "weft-test", {std::string(43, 'A') + "="}, {}};
  ProcessLauncher launcher(WEFT_GOSSIP_BIN, "warn");
  NullSink sink;
  Supervisor sup(o, launcher, sink);
  const std::string network = "subnet:10.0.0.0/8";
  for (int i = 0; i < 5000; ++i) {
    char id[65];
    std::snprintf(id, sizeof id, "%064d", i);
    sup.publish({network, id, "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 2) + "/8",
                 "", "02:42:0a:00:00:02", "127.0.0.1"});
  }
  sup.start();
  Result<ipc::StatusEvent> st = Error{0, "not asked yet"};
  auto deadline = steady_clock::now() + seconds(30);
  while (steady_clock::now() < deadline) {
    st = sup.status(milliseconds(1000));
    if (st.ok()) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->id, "127.0.0.1");
  EXPECT_EQ(st->networks, std::vector<std::string>{network});
  EXPECT_EQ(st->restarts, 0u);
  sup.stop();
}
