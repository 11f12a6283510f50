// /weft.Crypto's kernel.peers (plugin/kernel_backend.h, espPeersJson): the
// kernel ESP plane's peer states as JSON under the userspace backend's
// per-peer names, and weftctl's table reading them.

#include <gtest/gtest.h>

#include <sstream>

#include "plugin/kernel_backend.h"
#include "weftctl/crypto_view.h"

namespace weft::plugin {
namespace {

using driver::EspPeerState;
using driver::EspTraffic;
using Json = nlohmann::json;

TEST(KernelBackendStatus, PeersCarryTheirTrafficUnderTheUserspaceBackendsNames) {
  const std::vector<EspPeerState> states{
      {"198.18.0.2", 3, 2, {4, 5}, 0xabc, EspTraffic{10, 1500, 9, 1300, 2, 1}},
      {"198.18.0.3", 1, std::nullopt, {1}, 0xdef, std::nullopt}};
  const Json j = espPeersJson(states);
  ASSERT_EQ(j.size(), 2u);
  const Json& p = j[0];
  EXPECT_EQ(p["peer"], "198.18.0.2");
  EXPECT_EQ(p["outEpoch"], 3);
  EXPECT_EQ(p["previousOut"], 2);
  EXPECT_EQ(p["inEpochs"], Json({4, 5}));
  EXPECT_EQ(p["outSpi"], 0xabc);
  // The names driver/userspace_plane.cc gives a userspace peer's counters.
  EXPECT_EQ(p["sealedPackets"], 10);
  EXPECT_EQ(p["sealedBytes"], 1500);
  EXPECT_EQ(p["openedPackets"], 9);
  EXPECT_EQ(p["openedBytes"], 1300);
  EXPECT_EQ(p["authFailed"], 2);
  EXPECT_EQ(p["replayed"], 1);
  // Counters unknown (the SAs could not be listed): left out, not 0.
  EXPECT_TRUE(j[1]["previousOut"].is_null());
  for (const char* k :
       {"sealedPackets", "sealedBytes", "openedPackets", "openedBytes", "authFailed", "replayed"})
    EXPECT_FALSE(j[1].contains(k)) << k;

  // weftctl crypto shows them in the kernel pairs' table.
  Json crypto{
      {"backend", "off"},
      {"reason", "none"},
      {"selection",
       {{"kernelEsp", true},
        {"kernelOff", ""},
        {"kernelEpochs", {{"epoch", 3}, {"ageSeconds", 1}, {"rotateEverySeconds", 60}, {"file", "f"}}},
        {"networks", Json::array()}}},
      {"kernel", {{"peers", j}}}};
  std::ostringstream out;
  weftctl::printCrypto(crypto, out);
  std::string row;  // the peer's row, its columns one space apart
  std::istringstream lines(out.str());
  for (std::string l; std::getline(lines, l);)
    if (l.rfind("198.18.0.2", 0) == 0)
      for (char c : l)
        if (c != ' ' || (!row.empty() && row.back() != ' ')) row += c;
  EXPECT_EQ(row, "198.18.0.2 3 (previous 2) 4,5 2748 10 1500 9 1300 2 1 ") << out.str();
}

TEST(KernelBackendStatus, APacketCountRotationIsDueWhenACurrentOutboundSaReachedTheLimit) {
  const auto peer = [](const char* addr, std::optional<uint32_t> previous, std::optional<EspTraffic> t) {
    return EspPeerState{addr, 3, previous, {3}, 0x100, t};
  };
  const EspTraffic below{99, 0, 0, 0, 0, 0}, at{100, 0, 0, 0, 0, 0};
  EXPECT_FALSE(espPacketLimitReached({}, 100));
  EXPECT_FALSE(espPacketLimitReached({peer("198.18.0.2", std::nullopt, below)}, 100));
  EXPECT_TRUE(espPacketLimitReached(
      {peer("198.18.0.2", std::nullopt, below), peer("198.18.0.3", std::nullopt, at)}, 100));
  // Within the grace after a rotation the count includes the previous SA:
  // not the current one's, so no second rotation is asked for it.
  EXPECT_FALSE(espPacketLimitReached({peer("198.18.0.2", 2, at)}, 100));
  // Counters that could not be read ask nothing.
  EXPECT_FALSE(espPacketLimitReached({peer("198.18.0.2", std::nullopt, std::nullopt)}, 100));
  // The limit is the userspace backend's rekey by packet count.
  EXPECT_EQ(kEspMaxPacketsPerEpoch, uint64_t{1} << 24);
}

}  // namespace
}  // namespace weft::plugin
