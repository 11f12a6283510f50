// The supervisor with the real weft-gossip binary on loopback: a host with
// 5,000 joined endpoints gets a running sidecar (issue 10: the configuration
// outgrew one IPC message at ~1,100 and the sidecar never became ready).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <thread>

#include "cluster/supervisor.h"
#include "gossip/daemon/auth_audit.h"
#include "gossip/seal.h"
#include "tests/support/loopback.h"

using namespace weft;
using namespace weft::cluster;
using namespace std::chrono;

namespace {

class NullSink : public driver::PeerSink {
 public:
  void applyRemote(const driver::EndpointRecord&, driver::RecordState) override {}
  void beginResync() override {}
  size_t prunePeers() override { return 0; }
};

using test::freePort;

}  // namespace

// A supervisor running the real weft-gossip on a free loopback port.
class SidecarProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = freePort();
    ASSERT_NE(port_, 0);
    std::string addr = "127.0.0.1:" + std::to_string(port_);
    SupervisorOptions o;
    o.config = {"127.0.0.1", addr, addr, "weft-test", {std::string(43, 'A') + "="}, {}};
    sup_ = std::make_unique<Supervisor>(o, launcher_, sink_);
  }
  // Polls the status until the sidecar answers and `until` holds.
  Result<ipc::StatusEvent> statusWhen(const std::function<bool(const ipc::StatusEvent&)>& until) {
    Result<ipc::StatusEvent> st = Error{0, "not asked yet"};
    auto deadline = steady_clock::now() + seconds(30);
    while (steady_clock::now() < deadline) {
      st = sup_->status(milliseconds(1000));
      if (st.ok() && until(*st)) break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return st;
  }

  uint16_t port_ = 0;
  ProcessLauncher launcher_{WEFT_GOSSIP_BIN, "error"};
  NullSink sink_;
  std::unique_ptr<Supervisor> sup_;
};

TEST_F(SidecarProcess, BecomesReadyWith5000LocalEndpoints) {
  const std::string network = "subnet:10.0.0.0/8";
  for (int i = 0; i < 5000; ++i) {
    char id[65];
    std::snprintf(id, sizeof id, "%064d", i);
    sup_->publish({network, id, "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 2) + "/8",
                   "", "02:42:0a:00:00:02", "127.0.0.1"});
  }
  sup_->start();
  auto st = statusWhen([](const ipc::StatusEvent&) { return true; });
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->id, "127.0.0.1");
  EXPECT_EQ(st->networks, std::vector<std::string>{network});
  EXPECT_EQ(st->restarts, 0u);
}

// Forged packets from more source addresses than a status may list: the
// sidecar reports the busiest ones, and the status still answers.
TEST_F(SidecarProcess, StatusStaysWithinBoundsWhateverTheForgers) {
  sup_->start();
  ASSERT_TRUE(statusWhen([](const ipc::StatusEvent&) { return true; }).ok());
  // version | label length | label | nonce | ciphertext | tag, under no key it has.
  std::string packet = std::string(1, static_cast<char>(gossip::kProtocolVersion)) + "\x09" + "weft-test" +
                       std::string(12 + 8 + 16, '\x5a');
  const int kSources = 6000;
  for (int i = 0; i < kSources; ++i) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in from{}, to{};
    from.sin_family = to.sin_family = AF_INET;
    from.sin_addr.s_addr = htonl(0x7f010000u + static_cast<uint32_t>(i) + 1);  // 127.1.x.y: loopback
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(port_);
    bool sent = ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0 &&
                ::sendto(fd, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
                    static_cast<ssize_t>(packet.size());
    ::close(fd);
    ASSERT_TRUE(sent) << i;
    if (i % 100 == 99) std::this_thread::sleep_for(milliseconds(2));  // within its receive buffer
  }
  auto st = statusWhen([](const ipc::StatusEvent& s) {
    auto f = s.stats.find("forged");
    return f != s.stats.end() && f->second > ipc::kMaxList + 500;
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_GT(st->stats.at("forged"), ipc::kMaxList + 500);
  // The sidecar keeps the busiest kMaxAuditedSources (gossip/daemon/auth_audit.h).
  EXPECT_EQ(st->authFailuresByHost.size(), gossip::kMaxAuditedSources);
  EXPECT_LE(st->authFailuresByHost.size(), ipc::kMaxList);
  EXPECT_EQ(sup_->refusedMessages(), 0u);
}
