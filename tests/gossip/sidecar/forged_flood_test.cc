// Forged datagrams from many source addresses (issue 10, finding 3): a real
// weft-gossip on a loopback address gets 15,000 wrong-key datagrams, each
// from its own 127.1.x.y address.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gossip/daemon/auth_audit.h"
#include "gossip/keyring.h"
#include "gossip/messages.h"
#include "gossip/seal.h"
#include "tests/gossip/sidecar/sidecar_harness.h"
#include "tests/support/temp_dir.h"

namespace weft::test {
namespace {

bool sendFrom(const std::string& srcIp, const std::string& dstIp, int port, const std::vector<uint8_t>& p) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in src{}, dst{};
  src.sin_family = dst.sin_family = AF_INET;
  ::inet_pton(AF_INET, srcIp.c_str(), &src.sin_addr);
  ::inet_pton(AF_INET, dstIp.c_str(), &dst.sin_addr);
  dst.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) == 0 &&
            ::sendto(fd, p.data(), p.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) ==
                static_cast<ssize_t>(p.size());
  ::close(fd);
  return ok;
}

TEST(ForgedFlood, ManySourcesKeepTheTableTheLogAndTheStatusBounded) {
  TempDir dir("weft-forged-flood");
  const std::string ip = "127.0.0.2";
  const int port = testPort();
  Sidecar s({.id = ip, .addr = ip + ":" + std::to_string(port), .key = kKeyA, .seeds = {}},
            dir / "gossip.log");
  ASSERT_TRUE(s.ready()) << s.log();

  gossip::Key wrong;
  wrong.fill('W');
  gossip::Keyring ring(wrong);
  auto forged = [&](uint64_t seq) {
    return gossip::seal(ring, "weft", gossip::encodeEnvelopeHeader("intruder", 1, seq, 0));
  };
  // A persistent offender first, then 15,000 one-off sources.
  for (uint64_t i = 0; i < 40; ++i) ASSERT_TRUE(sendFrom("127.1.200.1", ip, port, forged(i)));
  constexpr size_t kSources = 15000;
  for (size_t i = 0; i < kSources; ++i) {
    ASSERT_TRUE(sendFrom("127.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1), ip, port,
                         forged(100 + i)));
    if (i % 200 == 199) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // no socket overflow
  }
  Json st = s.statusUntil(
      [&](const Json& j) { return j["stats"].value("authFailuresTotal", 0u) >= kSources; }, 10000);
  ASSERT_FALSE(st.is_null()) << "no status reply after the flood\n" << s.log().substr(0, 2000);
  EXPECT_GE(st["stats"]["forged"].get<uint64_t>(), kSources);
  EXPECT_LE(st["authFailuresByHost"].size(), gossip::kMaxAuditedSources);
  ASSERT_TRUE(st["authFailuresByHost"].contains("127.1.200.1")) << st.dump();
  EXPECT_EQ(st["authFailuresByHost"]["127.1.200.1"].get<uint64_t>(), 40u);
  EXPECT_LT(st.dump().size(), 16u << 10);
  // One summary line per interval, not a line per source. The flood takes a
  // few seconds: allow a line per interval it can span, plus one.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // the housekeeping tick logs
  EXPECT_LE(countLines(s.log(), "failed authentication"), 3u) << s.log().substr(0, 3000);
  EXPECT_GE(countLines(s.log(), "failed authentication"), 1u);
  EXPECT_TRUE(s.running());
}

}  // namespace
}  // namespace weft::test
