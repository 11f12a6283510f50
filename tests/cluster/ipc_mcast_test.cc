// Multicast advertisements over the plugin <-> sidecar channel
// (cluster/ipc_messages.h): the round trip, the limits, and what the decoder
// refuses.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cluster/ipc_messages.h"

using namespace weft::cluster::ipc;

namespace {
const Mcast kMcast{"subnet:10.0.0.0/24", "198.18.0.2", "198.18.0.2", {"239.1.2.3", "ff0e::1:3"}, false};

nlohmann::json groupsOf(const std::string& prefix, size_t n) {
  nlohmann::json a = nlohmann::json::array();
  for (size_t i = 0; i < n; ++i) a.push_back(prefix + std::to_string(i + 1));
  return a;
}
}  // namespace

TEST(IpcMcast, RoundTrip) {
  auto m = decodeToSidecar(encode(ToSidecar{McastMsg{kMcast, true}}));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(std::get<McastMsg>(*m), (McastMsg{kMcast, true}));
  Mcast all = kMcast;
  all.groups.clear();
  all.all = true;
  auto e = decodeFromSidecar(encode(FromSidecar{McastEvent{true, all}}));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(std::get<McastEvent>(*e), (McastEvent{true, all}));
}

TEST(IpcMcast, GroupsUpToTheLimitsPassAndOneMoreIsRefused) {
  auto decodes = [](const nlohmann::json& groups) {
    auto j = nlohmann::json::parse(encode(FromSidecar{McastEvent{true, kMcast}}));
    j["groups"] = groups;
    return decodeFromSidecar(j.dump()).ok();
  };
  EXPECT_TRUE(decodes(groupsOf("239.0.0.", kMaxMcastV4)));
  EXPECT_FALSE(decodes(groupsOf("239.0.0.", kMaxMcastV4 + 1)));
  EXPECT_TRUE(decodes(groupsOf("ff0e::", kMaxMcastV6)));
  EXPECT_FALSE(decodes(groupsOf("ff0e::", kMaxMcastV6 + 1)));
  auto both = groupsOf("239.0.0.", kMaxMcastV4);
  for (const auto& g : groupsOf("ff0e::", kMaxMcastV6)) both.push_back(g);
  EXPECT_TRUE(decodes(both));  // the limits are per family
}

TEST(IpcMcast, MalformedAdvertisementsAreRefused) {
  auto refused = [](const std::function<void(nlohmann::json&)>& change) {
    auto j = nlohmann::json::parse(encode(FromSidecar{McastEvent{true, kMcast}}));
    change(j);
    return !decodeFromSidecar(j.dump()).ok();
  };
  EXPECT_FALSE(refused([](auto&) {}));
  EXPECT_TRUE(refused([](auto& j) { j["groups"] = {"10.0.0.1"}; }));  // unicast
  EXPECT_TRUE(refused([](auto& j) { j["groups"] = {"fd00::1"}; }));
  EXPECT_TRUE(refused([](auto& j) { j["groups"] = {"239.1.2.3/32"}; }));
  EXPECT_TRUE(refused([](auto& j) { j["groups"] = {"239.1.2.3", "239.1.2.3"}; }));  // twice
  EXPECT_TRUE(refused([](auto& j) { j["groups"] = "239.1.2.3"; }));
  EXPECT_TRUE(refused([](auto& j) { j["vtep"] = "not-an-ip"; }));
  EXPECT_TRUE(refused([](auto& j) { j["vtep"] = ""; }));
  EXPECT_TRUE(refused([](auto& j) { j["owner"] = ""; }));  // an event names its owner
  EXPECT_TRUE(refused([](auto& j) { j["all"] = "yes"; }));
  EXPECT_TRUE(refused([](auto& j) { j.erase("network"); }));
}
