// Endpoint names over the plugin <-> sidecar channel (cluster/ipc_messages.h):
// the round trip, and names the decoder refuses.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cluster/ipc_messages.h"

using namespace weft::cluster::ipc;

namespace {
const Names kNames{"subnet:10.0.0.0/24", "0123abcd", "198.18.0.2", "10.0.0.2", "", {"web-1", "web"}};
}

TEST(IpcNames, RoundTrip) {
  auto m = decodeToSidecar(encode(ToSidecar{NamesMsg{kNames, true}}));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(std::get<NamesMsg>(*m), (NamesMsg{kNames, true}));
  auto e = decodeFromSidecar(encode(FromSidecar{NamesEvent{true, kNames}}));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(std::get<NamesEvent>(*e), (NamesEvent{true, kNames}));
}

TEST(IpcNames, MalformedNamesAreRefused) {
  auto refused = [](const std::function<void(nlohmann::json&)>& change) {
    auto j = nlohmann::json::parse(encode(FromSidecar{NamesEvent{true, kNames}}));
    change(j);
    return !decodeFromSidecar(j.dump()).ok();
  };
  EXPECT_TRUE(refused([](auto& j) { j["names"] = {"bad name"}; }));
  EXPECT_TRUE(refused([](auto& j) { j["names"] = {std::string(64, 'a')}; }));
  EXPECT_TRUE(refused([](auto& j) { j["names"] = "web"; }));
  EXPECT_TRUE(refused([](auto& j) { j["owner"] = ""; }));  // an event names its owner
  EXPECT_TRUE(refused([](auto& j) { j["ipv4"] = ""; }));   // no address at all
  EXPECT_TRUE(refused([](auto& j) { j["ipv4"] = "fd00::1"; }));
  EXPECT_TRUE(refused([](auto& j) { j["ipv4"] = "10.0.0.2/24"; }));
  EXPECT_TRUE(refused([](auto& j) { j["endpoint"] = "a/b"; }));
  EXPECT_TRUE(refused([](auto& j) {
    j["names"] = nlohmann::json::array();
    for (int i = 0; i <= static_cast<int>(kMaxNamesPerSet); ++i)
      j["names"].push_back("n" + std::to_string(i));
  }));
  EXPECT_TRUE(refused([](auto& j) {  // 16 names, but more than 255 bytes
    j["names"] = nlohmann::json::array();
    for (int i = 0; i < 5; ++i) j["names"].push_back(std::string(60, static_cast<char>('a' + i)));
  }));
  EXPECT_FALSE(refused([](auto&) {}));
  EXPECT_TRUE(namesFit({std::string(255, 'a')}));
  EXPECT_FALSE(namesFit({std::string(200, 'a'), std::string(55, 'b')}));  // 256 with the comma
}
