// -o encrypted in the driver (issue 11): option parsing, what is refused at
// creation and why, the sandbox without a VTEP, the encrypted plane fed from
// the peer table, persistence across a restart; and the userspace plane's
// key-epoch reservation.

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "common/json_file.h"
#include "driver/driver.h"
#include "driver/names.h"
#include "driver/network_policy.h"
#include "driver/userspace_plane.h"
#include "kernel/fake_kernel.h"
#include "tests/support/temp_dir.h"

using namespace weft;
using namespace weft::driver;

namespace {

std::string id(char c) { return std::string(64, c); }

CreateNetworkRequest net(const std::string& nid, const std::string& pool,
                         std::map<std::string, std::string> generic) {
  CreateNetworkRequest r;
  r.networkId = nid;
  r.generic = std::move(generic);
  r.ipv4.push_back({"", pool, pool.substr(0, pool.rfind('.')) + ".1/24", {}});
  return r;
}

// Records what the driver asks of the encrypted plane.
class RecordingPlane : public EncryptedPlane {
 public:
  Status attach(const EncryptedNetwork& n) override {
    if (failAttach) return Error{EIO, "no TAP today"};
    attached[n.identity] = n;
    ++attaches;
    return Status::Ok();
  }
  void detach(const std::string& identity) override { attached.erase(identity); }
  void setPeers(const std::string& identity, const PeerEntries& e) override { peers[identity] = e; }
  void pruneRestored() override { ++prunes; }
  void setGroups(const std::string& identity, const GroupRoutes& r) override { groups[identity] = r; }

  std::map<std::string, EncryptedNetwork> attached;
  std::map<std::string, PeerEntries> peers;
  std::map<std::string, GroupRoutes> groups;
  int attaches = 0;
  int prunes = 0;
  bool failAttach = false;
};

class EncryptedNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_ = std::make_unique<kernel::FakeKernel>(dir_ / "netns");
    cfg_.stateDir = dir_.path();
    cfg_.advertiseAddr = "198.18.0.1";
    start();
  }
  void start(bool withPlane = true) {
    driver_ = std::make_unique<Driver>(cfg_, *kernel_);
    if (withPlane) driver_->setEncryptedPlane(&plane_);
    ASSERT_TRUE(driver_->start().ok());
  }

  test::TempDir dir_;
  DriverConfig cfg_;
  RecordingPlane plane_;
  std::unique_ptr<kernel::FakeKernel> kernel_;
  std::unique_ptr<Driver> driver_;
};

}  // namespace

TEST(EncryptedOptions, EncryptedAndCryptoBackendParse) {
  auto o = parseNetworkOptions({{"encrypted", ""}, {"weft.crypto", "userspace"}});
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_TRUE(o->encrypted);
  EXPECT_EQ(o->cryptoBackend(), CryptoBackend::kUserspace);
  EXPECT_EQ(parseNetworkOptions({{"encrypted", "true"}})->cryptoBackend(), CryptoBackend::kAuto);
  EXPECT_FALSE(parseNetworkOptions({{"encrypted", "false"}})->encrypted);
  EXPECT_EQ(parseNetworkOptions({{"encrypted", "1"}, {"weft.crypto", "kernel"}})->cryptoBackend(),
            CryptoBackend::kKernel);
}

TEST(EncryptedOptions, BadValuesAreRefusedNamingTheOption) {
  struct Case {
    std::map<std::string, std::string> in;
    std::string mention;
  };
  for (const Case& c : std::vector<Case>{
           {{{"encrypted", "maybe"}}, "encrypted=\"maybe\""},
           {{{"encrypted", ""}, {"weft.crypto", "foo"}}, "weft.crypto=\"foo\""},
           {{{"encrypted", ""}, {"weft.crypto", ""}}, "weft.crypto"},
           {{{"weft.crypto", "userspace"}}, "needs -o encrypted"},
           {{{"encrypted", "false"}, {"weft.crypto", "auto"}}, "needs -o encrypted"},
       }) {
    auto o = parseNetworkOptions(c.in);
    ASSERT_FALSE(o.ok()) << c.mention;
    EXPECT_EQ(o.code(), EINVAL);
    EXPECT_NE(o.error().message.find(c.mention), std::string::npos) << o.error().message;
  }
}

TEST(EncryptedOptions, UserspaceMtuIsExactForThe40ByteDatapathOverhead) {
  NetworkOptions o;
  o.encrypted = true;
  // 1500 - 20 (IP) - 8 (UDP) - 40 (header + tag) - 14 (inner Ethernet)
  EXPECT_EQ(*networkMtu(o, {1500, false}, 0, CryptoBackend::kUserspace), 1418u);
  EXPECT_EQ(*networkMtu(o, {9000, false}, 0, CryptoBackend::kUserspace), 8918u);
  EXPECT_EQ(*networkMtu(o, {1500, true}, 0, CryptoBackend::kUserspace), 1398u);
  o.mtu = 1419;
  auto big = networkMtu(o, {1500, false}, 0, CryptoBackend::kUserspace);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("the most is 1418"), std::string::npos) << big.error().message;
}

TEST_F(EncryptedNetworkTest, EncryptedNetworkHasNoVtepAndItsPortIsThePlanes) {
  ASSERT_TRUE(driver_->createNetwork(net(id('a'), "10.1.0.0/24", {{"encrypted", ""}})).ok());
  ASSERT_TRUE(driver_->createNetwork(net(id('b'), "10.2.0.0/24", {})).ok());
  std::map<std::string, Network> byId;
  for (auto& n : driver_->networks()) byId[n.id] = n;
  const Network& enc = byId.at(id('a'));
  EXPECT_TRUE(enc.encrypted());
  EXPECT_EQ(enc.mtu, 1418u);
  // No VXLAN device: cleartext VXLAN for its VNI has nowhere to go.
  EXPECT_FALSE(kernel_->getLink(enc.netns, enc.vxlanName).ok());
  EXPECT_TRUE(kernel_->getLink(enc.netns, "br0").ok());
  ASSERT_EQ(plane_.attached.size(), 1u);
  const auto& a = plane_.attached.at(enc.identity);
  EXPECT_EQ(a.vni, enc.vni);
  EXPECT_EQ(a.netns, enc.netns);
  EXPECT_EQ(a.mtu, 1418u);
  // The plain one keeps its VTEP and is not the plane's.
  EXPECT_TRUE(kernel_->getLink(byId.at(id('b')).netns, byId.at(id('b')).vxlanName).ok());
  ASSERT_TRUE(driver_->deleteNetwork(id('a')).ok());
  EXPECT_TRUE(plane_.attached.empty());
}

TEST_F(EncryptedNetworkTest, RemoteEndpointsFeedThePlaneNotTheKernel) {
  ASSERT_TRUE(driver_->createNetwork(net(id('a'), "10.1.0.0/24", {{"encrypted", ""}})).ok());
  const std::string identity = driver_->networks().at(0).identity;
  driver_->applyRemote({identity, id('e'), "10.1.0.7/24", "", "02:42:0a:01:00:07", "198.18.0.2"},
                       RecordState::kActive);
  driver_->applyRemote({identity, id('f'), "10.1.0.8/24", "", "02:42:0a:01:00:08", "198.18.0.3"},
                       RecordState::kActive);
  driver_->syncPeers();
  const PeerEntries& e = plane_.peers.at(identity);
  EXPECT_EQ(e.fdb.at("02:42:0a:01:00:07"), "198.18.0.2");
  EXPECT_EQ(e.fdb.at("02:42:0a:01:00:08"), "198.18.0.3");
  EXPECT_EQ(e.flood, (std::set<std::string>{"198.18.0.2", "198.18.0.3"}));
  driver_->applyRemote({identity, id('f'), "10.1.0.8/24", "", "02:42:0a:01:00:08", "198.18.0.3"},
                       RecordState::kWithdrawn);
  driver_->syncPeers();
  EXPECT_EQ(plane_.peers.at(identity).flood, (std::set<std::string>{"198.18.0.2"}));
  EXPECT_FALSE(plane_.peers.at(identity).fdb.count("02:42:0a:01:00:08"));
  // The control plane's resync is complete: the plane drops what it kept
  // from before a restart, as the peer table does.
  EXPECT_EQ(plane_.prunes, 0);
  driver_->prunePeers();
  EXPECT_EQ(plane_.prunes, 1);
}

TEST_F(EncryptedNetworkTest, OptionsPersistAndARestartAttachesThePortAgain) {
  ASSERT_TRUE(
      driver_
          ->createNetwork(net(id('a'), "10.1.0.0/24", {{"encrypted", "true"}, {"weft.crypto", "userspace"}}))
          .ok());
  auto saved = readFile(dir_.path() + "/state.json");
  ASSERT_TRUE(saved.ok());
  auto j = nlohmann::json::parse(*saved);
  const auto& opts = j["networks"][0]["options"];
  EXPECT_EQ(opts["encrypted"], "true");
  EXPECT_EQ(opts["weft.crypto"], "userspace");
  plane_.attached.clear();
  start();
  ASSERT_EQ(plane_.attached.size(), 1u);
  EXPECT_TRUE(driver_->networks().at(0).encrypted());
  EXPECT_EQ(driver_->networks().at(0).options.cryptoBackend(), CryptoBackend::kUserspace);
}

TEST_F(EncryptedNetworkTest, WhatThisHostCannotServeIsRefusedWithTheReason) {
  auto kernelBackend =
      driver_->createNetwork(net(id('a'), "10.1.0.0/24", {{"encrypted", ""}, {"weft.crypto", "kernel"}}));
  ASSERT_FALSE(kernelBackend.ok());
  EXPECT_NE(kernelBackend.error().message.find("weft.crypto=kernel"), std::string::npos);
  EXPECT_NE(kernelBackend.error().message.find(cfg_.kernelCryptoOff), std::string::npos);
  EXPECT_FALSE(kernel_->getLink(netnsName(id('a')), "br0").ok());  // nothing made

  // A host without a plane (no cluster key): refused, naming why.
  driver_->setEncryptedPlane(nullptr, "this host has no cluster key");
  auto noKey = driver_->createNetwork(net(id('b'), "10.2.0.0/24", {{"encrypted", ""}}));
  ASSERT_FALSE(noKey.ok());
  EXPECT_NE(noKey.error().message.find("no cluster key"), std::string::npos) << noKey.error().message;
  EXPECT_TRUE(driver_->networks().empty());
  EXPECT_TRUE(driver_->createNetwork(net(id('b'), "10.2.0.0/24", {{"encrypted", "false"}})).ok());
}

TEST_F(EncryptedNetworkTest, APortThatCannotBeAttachedLeavesNothingBehind) {
  plane_.failAttach = true;
  auto st = driver_->createNetwork(net(id('a'), "10.1.0.0/24", {{"encrypted", ""}}));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("no TAP today"), std::string::npos);
  EXPECT_TRUE(driver_->networks().empty());
  auto ns = kernel_->listNetns();
  ASSERT_TRUE(ns.ok());
  EXPECT_TRUE(ns->empty());
}

TEST_F(EncryptedNetworkTest, AllocateNetworkEchoesEncryptionAndRefusesWhatNoHostCanServe) {
  AllocateNetworkRequest r{id('a'), {{"encrypted", ""}, {"weft.crypto", "userspace"}}, {}, {}};
  auto a = driver_->allocateNetwork(r);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->at("encrypted"), "");
  EXPECT_EQ(a->at("weft.crypto"), "userspace");
  r.options = {{"encrypted", "maybe"}};
  EXPECT_FALSE(driver_->allocateNetwork(r).ok());
  r.options = {{"encrypted", ""}, {"weft.crypto", "kernel"}};
  auto k = driver_->allocateNetwork(r);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message.find("weft.crypto=kernel"), std::string::npos);
}

// ---------------------------------------------------------------- key epochs

TEST(UserspacePlane, EveryStartBeginsPastTheEpochsReservedBefore) {
  test::TempDir dir;
  kernel::FakeKernel k(dir / "netns");
  UserspacePlaneConfig c;
  c.self = "127.0.0.1";
  c.port = 0;
  c.key.assign(32, 0x42);
  c.epochFile = dir.path() + "/datapath-epoch";
  EXPECT_FALSE(UserspacePlane::start(k, c).ok());  // port 0 refused
  c.port = 47911;
  uint32_t first = 0;
  {
    auto p = UserspacePlane::start(k, c);
    ASSERT_TRUE(p.ok()) << p.error().message;
    first = (*p)->status()["epochStart"].get<uint32_t>();
    EXPECT_EQ(first, 1u);
    EXPECT_EQ(*readFile(c.epochFile), std::to_string(1 + kEpochBlock) + "\n");
  }
  {
    auto p = UserspacePlane::start(k, c);  // a restart (or kill -9) and start again
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ((*p)->status()["epochStart"].get<uint32_t>(), first + kEpochBlock);
  }
  ASSERT_TRUE(writeFileAtomic(c.epochFile, "banana\n").ok());
  auto bad = UserspacePlane::start(k, c);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("datapath-epoch"), std::string::npos) << bad.error().message;
  c.key.resize(16);
  EXPECT_FALSE(UserspacePlane::start(k, c).ok());
}

TEST(UserspacePlane, SenderIdsComeFromTheUnderlayAddress) {
  EXPECT_EQ(UserspacePlane::senderIdOf("198.18.0.1"), 0xc6120001u);
  EXPECT_EQ(UserspacePlane::senderIdOf("2001:db8::1"), stableHash("2001:db8::1"));
}
