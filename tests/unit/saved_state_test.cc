// state.json's encoder and decoder (driver/saved_state.h) apart from the
// Driver and its file: what is written reads back as it was, and a file
// that does not hang together is refused naming the file.
#include "driver/saved_state.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "driver/state_store.h"

namespace weft::driver {
namespace {

const std::string kNet(64, 'a');
const std::string kEp(64, 'b');

TEST(SavedState, WhatIsEncodedDecodesToTheSameState) {
  std::map<std::string, Network> nets;
  Network& n = nets[kNet];
  n.id = kNet;
  n.identity = "name:blue";
  n.vni = 7;
  n.mtu = 1450;
  n.netns = "weft-aaaaaaaaaaaa";
  n.vxlanName = "wx-000007";
  n.endpoints.insert(kEp);
  std::map<std::string, Endpoint> eps;
  Endpoint& e = eps[kEp];
  e.id = kEp;
  e.networkId = kNet;
  e.address = "10.9.0.2/24";
  e.mac = "02:42:0a:09:00:02";
  Ipam ipam;
  ASSERT_TRUE(ipam.requestPool("", "10.9.0.0/24", "", {}, false).ok());
  SwarmNodes swarm({"198.18.0.2"}, "198.18.0.1");

  const std::string text = encodeState(nets, eps, ipam, swarm);
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j.at("format"), "weft-state");
  EXPECT_EQ(j.at("version"), kStateFormatVersion);
  auto back = decodeState(j, "/x/state.json");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->networks.size(), 1u);
  EXPECT_EQ(back->networks.at(kNet).vni, 7u);
  EXPECT_EQ(back->networks.at(kNet).endpoints, (std::set<std::string>{kEp}));
  EXPECT_EQ(back->endpoints.at(kEp).address, "10.9.0.2/24");
  EXPECT_EQ(back->endpoints.at(kEp).mac, "02:42:0a:09:00:02");
  EXPECT_EQ(back->ipam.pools().size(), 1u);
  EXPECT_EQ(back->swarm, swarm);
  // And it is stable: encoding what was decoded gives the same text.
  EXPECT_EQ(encodeState(back->networks, back->endpoints, back->ipam, back->swarm), text);
}

TEST(SavedState, AFileThatDoesNotHangTogetherIsRefused) {
  SwarmNodes none;
  auto j = nlohmann::json::parse(encodeState({}, {}, Ipam{}, none));
  auto wrong = j;
  wrong["format"] = "something-else";
  auto r = decodeState(wrong, "/x/state.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), EINVAL);
  EXPECT_NE(r.error().message.find("/x/state.json is not a weft state file"), std::string::npos);
  auto orphan = j;
  Endpoint e;
  e.id = kEp;
  e.networkId = kNet;
  orphan["endpoints"] = nlohmann::json::array({toJson(e)});
  r = decodeState(orphan, "/x/state.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), EINVAL);
  EXPECT_NE(r.error().message.find("belongs to unknown network"), std::string::npos) << r.error().message;
  auto missing = j;
  missing.erase("discovered");
  r = decodeState(missing, "/x/state.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("is corrupt"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace weft::driver
