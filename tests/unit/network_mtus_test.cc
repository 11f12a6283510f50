// Hosts of one network with different MTUs (issue 15): the records each host
// publishes of its networks' MTUs (driver/network_mtus.h), the rule that
// finds a mismatch, and what the operator gets on both hosts -- weftctl
// check failing with the network, each host and its MTU and what to do,
// passing again after the fix -- while a host that says no MTU (an older
// weft during a rolling upgrade) is "unknown", never a mismatch.
#include "driver/network_mtus.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "driver/driver.h"
#include "kernel/fake_kernel.h"
#include "plugin/api.h"
#include "tests/support/temp_dir.h"
#include "weftctl/check.h"

using namespace weft;
using namespace weft::driver;
using Json = nlohmann::json;

namespace {

const std::string kA = "198.18.0.1", kB = "198.18.0.2", kC = "fd00::3";
const std::string kIdentity = "subnet:10.71.0.0/24";

}  // namespace

TEST(NetworkMtus, AnotherHostsDifferentMtuOfTheSameNetworkIsAMismatch) {
  NetworkMtus mtus;
  ASSERT_TRUE(mtus.apply(NetworkMtus::record(kIdentity, 1400, kA), true, kB).ok());
  ASSERT_TRUE(mtus.apply(NetworkMtus::record("name:other", 9000, kA), true, kB).ok());
  EXPECT_TRUE(mtus.mismatches({{kIdentity, 1400}}).empty());
  auto m = mtus.mismatches({{kIdentity, 1450}, {"name:mine-only", 1450}});
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].identity, kIdentity);
  EXPECT_EQ(m[0].host, kA);
  EXPECT_EQ(m[0].theirs, 1400u);
  EXPECT_EQ(m[0].ours, 1450u);
  EXPECT_EQ(mtus.hostsOf(kIdentity), (std::map<std::string, uint32_t>{{kA, 1400}}));
  // A new MTU replaces the host's old one; a withdrawal forgets it.
  ASSERT_TRUE(mtus.apply(NetworkMtus::record(kIdentity, 1450, kA), true, kB).ok());
  EXPECT_TRUE(mtus.mismatches({{kIdentity, 1450}}).empty());
  ASSERT_TRUE(mtus.apply(NetworkMtus::record(kIdentity, 1450, kA), false, kB).ok());
  EXPECT_TRUE(mtus.hostsOf(kIdentity).empty());
  EXPECT_EQ(mtus.size(), 1u);  // "name:other" is left
}

TEST(NetworkMtus, TheRecordCarriesTheMtuInALocallyAdministeredMacAndAnIpv6OwnerHasAValidKey) {
  auto r = NetworkMtus::record(kIdentity, 9000, kC);
  EXPECT_EQ(r.network, "mtu:" + kIdentity);
  EXPECT_EQ(r.endpoint, "mtu.fd00--3");   // an endpoint id allows no ':'
  EXPECT_EQ(r.mac, "02:00:00:00:23:28");  // 9000
  EXPECT_EQ(r.vtep, kC);
  EXPECT_TRUE(r.ipv4.empty() && r.ipv6.empty());
  NetworkMtus mtus;
  ASSERT_TRUE(mtus.apply(r, true, kA).ok());
  EXPECT_EQ(mtus.hostsOf(kIdentity).at(kC), 9000u);
  EXPECT_TRUE(NetworkMtus::isRecordNetwork(r.network));
  EXPECT_FALSE(NetworkMtus::isRecordNetwork(kIdentity));
}

TEST(NetworkMtus, HostsWithEndpointsButNoMtuRecordAreUnknownNotAMismatch) {
  NetworkMtus mtus;
  ASSERT_TRUE(mtus.apply(NetworkMtus::record(kIdentity, 1450, kA), true, kC).ok());
  EXPECT_EQ(mtus.unknown(kIdentity, {kA, kB}), (std::set<std::string>{kB}));
  EXPECT_EQ(mtus.unknown("name:nobody-said", {kB}), (std::set<std::string>{kB}));
  EXPECT_TRUE(mtus.mismatches({{kIdentity, 1450}}).empty());
}

TEST(NetworkMtus, ForgedOrMalformedRecordsAreRefusedAndChangeNothing) {
  NetworkMtus mtus;
  auto forged = NetworkMtus::record(kIdentity, 1400, kA);
  forged.endpoint = "mtu." + kB;  // written under another host's name
  auto st = mtus.apply(forged, true, kC);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("key does not name"), std::string::npos) << st.error().message;
  auto tooSmall = NetworkMtus::record(kIdentity, kMinRecordMtu - 1, kA);
  EXPECT_FALSE(mtus.apply(tooSmall, true, kC).ok());
  auto tooBig = NetworkMtus::record(kIdentity, kMaxRecordMtu + 1, kA);
  EXPECT_FALSE(mtus.apply(tooBig, true, kC).ok());
  auto otherMac = NetworkMtus::record(kIdentity, 1400, kA);
  otherMac.mac = "02:42:00:00:05:78";  // not weft's form
  EXPECT_FALSE(mtus.apply(otherMac, true, kC).ok());
  auto withAddress = NetworkMtus::record(kIdentity, 1400, kA);
  withAddress.ipv4 = "10.71.0.5/24";
  EXPECT_FALSE(mtus.apply(withAddress, true, kC).ok());
  auto notMtu = NetworkMtus::record(kIdentity, 1400, kA);
  notMtu.network = kIdentity;
  EXPECT_FALSE(mtus.apply(notMtu, true, kC).ok());
  auto noIdentity = NetworkMtus::record("", 1400, kA);
  EXPECT_FALSE(mtus.apply(noIdentity, true, kC).ok());
  auto control = NetworkMtus::record("subnet:10.71.0.0/24\n", 1400, kA);
  EXPECT_FALSE(mtus.apply(control, true, kC).ok());
  EXPECT_EQ(mtus.size(), 0u);
  // This host's own record (echoed back) is not another host's.
  ASSERT_TRUE(mtus.apply(NetworkMtus::record(kIdentity, 1400, kC), true, kC).ok());
  EXPECT_EQ(mtus.size(), 0u);
}

TEST(NetworkMtus, AtMostALimitOfHostsPerNetworkIsKept) {
  NetworkMtus mtus;
  for (size_t i = 0; i < kMaxMtuHostsPerNetwork; ++i) {
    const std::string host = "198.19." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    ASSERT_TRUE(mtus.apply(NetworkMtus::record(kIdentity, 1450, host), true, kA).ok());
  }
  auto over = mtus.apply(NetworkMtus::record(kIdentity, 1450, "198.20.0.1"), true, kA);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.code(), ENOSPC);
  // A host already kept may still change its MTU.
  EXPECT_TRUE(mtus.apply(NetworkMtus::record(kIdentity, 1400, "198.19.0.0"), true, kA).ok());
  EXPECT_EQ(mtus.hostsOf(kIdentity).size(), kMaxMtuHostsPerNetwork);
}

namespace {

// Keeps what a driver publishes; the test hands records to the other driver.
class MtuRecordingCluster : public Cluster {
 public:
  void publish(const EndpointRecord& r) override { endpoints.push_back(r); }
  void withdraw(const std::string&, const std::string&) override {}
  void addSeed(const std::string&) override {}
  void publishMtu(const EndpointRecord& r) override { published.push_back(r); }
  void withdrawMtu(const std::string& network, const std::string& endpoint) override {
    withdrawn.emplace_back(network, endpoint);
  }
  std::vector<EndpointRecord> endpoints, published;
  std::vector<std::pair<std::string, std::string>> withdrawn;
};

struct MtuHost {
  explicit MtuHost(const std::string& addr) {
    kernel = std::make_unique<kernel::FakeKernel>(dir / "netns");
    cfg.stateDir = dir.path();
    cfg.advertiseAddr = addr;
    driver = std::make_unique<Driver>(cfg, *kernel);
    EXPECT_TRUE(driver->start().ok());
    driver->setCluster(&cluster);
    api = std::make_unique<plugin::Api>(*driver);
  }
  // docker network create --subnet 10.71.0.0/24 [-o mtu=N]: the same
  // identity on every host, its own network ID here.
  void create(const std::string& nid, std::optional<uint32_t> mtu) {
    CreateNetworkRequest r;
    r.networkId = nid;
    if (mtu) r.generic["mtu"] = std::to_string(*mtu);
    r.ipv4.push_back({"", "10.71.0.0/24", "10.71.0.1/24", {}});
    auto st = driver->createNetwork(r);
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  weftctl::CheckOutcome check() {
    auto r = api->handle("/weft.Status", "");
    EXPECT_EQ(r.status, 200) << r.body;
    return weftctl::runCheck({Json::parse(r.body), nullptr, nullptr});
  }
  test::TempDir dir;
  DriverConfig cfg;
  std::unique_ptr<kernel::FakeKernel> kernel;
  MtuRecordingCluster cluster;
  std::unique_ptr<Driver> driver;
  std::unique_ptr<plugin::Api> api;
};

const std::string kNidA(64, 'a'), kNidB(64, 'b');

}  // namespace

TEST(DriverNetworkMtus, EveryNetworkCarriedIsPublishedWithItsMtuAndWithdrawnWithIt) {
  MtuHost a(kA);
  a.create(kNidA, std::nullopt);  // the underlay's 1500 less 50 bytes of VXLAN
  ASSERT_EQ(a.cluster.published.size(), 1u);
  EXPECT_EQ(a.cluster.published[0], NetworkMtus::record(kIdentity, 1450, kA));
  EXPECT_TRUE(a.cluster.endpoints.empty());  // never an endpoint record
  ASSERT_TRUE(a.driver->deleteNetwork(kNidA).ok());
  ASSERT_EQ(a.cluster.withdrawn.size(), 1u);
  EXPECT_EQ(a.cluster.withdrawn[0], std::make_pair("mtu:" + kIdentity, std::string("mtu.198.18.0.1")));
  // A new control-plane session (a restarted sidecar) is told again.
  a.create(kNidA, 1400);
  MtuRecordingCluster fresh;
  a.driver->setCluster(&fresh);
  ASSERT_EQ(fresh.published.size(), 1u);
  EXPECT_EQ(fresh.published[0], NetworkMtus::record(kIdentity, 1400, kA));
}

TEST(DriverNetworkMtus, AMismatchFailsWeftctlCheckOnBothHostsNamingEachAndPassesAfterTheFix) {
  MtuHost a(kA), b(kB);
  a.create(kNidA, 1400);
  b.create(kNidB, std::nullopt);  // 1450
  ASSERT_EQ(a.cluster.published.size(), 1u);
  ASSERT_EQ(b.cluster.published.size(), 1u);
  a.driver->applyRemote(b.cluster.published[0], RecordState::kActive);
  b.driver->applyRemote(a.cluster.published[0], RecordState::kActive);
  EXPECT_TRUE(a.driver->remoteEndpoints().empty());  // never taken for an endpoint

  auto ca = a.check(), cb = b.check();
  EXPECT_EQ(ca.exitCode, 1);
  EXPECT_EQ(cb.exitCode, 1);
  EXPECT_NE(ca.text.find("PROBLEM MTU mismatch: network aaaaaaaaaaaa (subnet:10.71.0.0/24) has MTU 1400 on "
                         "this host (198.18.0.1) but 1450 on host 198.18.0.2: packets larger than 1400 bytes "
                         "between their containers are dropped -- create the network with the same -o mtu "
                         "on every host (e.g. -o mtu=1400), or fix the underlay MTU of 198.18.0.1 (this "
                         "host)\n  every host of a network needs the same MTU"),
            std::string::npos)
      << ca.text;
  EXPECT_NE(cb.text.find("PROBLEM MTU mismatch: network bbbbbbbbbbbb (subnet:10.71.0.0/24) has MTU 1450 on "
                         "this host (198.18.0.2) but 1400 on host 198.18.0.1: packets larger than 1400 bytes "
                         "between their containers are dropped -- create the network with the same -o mtu "
                         "on every host (e.g. -o mtu=1400), or fix the underlay MTU of 198.18.0.1\n"),
            std::string::npos)
      << cb.text;
  // --json: the problem with its parts, for scripts.
  ASSERT_EQ(ca.json["problems"].size(), 1u);
  const Json& p = ca.json["problems"][0];
  EXPECT_EQ(p["kind"], "mtu");
  EXPECT_EQ(p["identity"], kIdentity);
  EXPECT_EQ(p["peer"], kB);
  EXPECT_EQ(p["mtu"], 1400);
  EXPECT_EQ(p["peerMtu"], 1450);
  EXPECT_FALSE(ca.json["ok"].get<bool>());
  auto views = a.driver->networkMtus();
  ASSERT_EQ(views.size(), 1u);
  EXPECT_TRUE(views[0].mismatch());

  // The fix: b creates the network again with -o mtu=1400.
  ASSERT_TRUE(b.driver->deleteNetwork(kNidB).ok());
  a.driver->applyRemote(b.cluster.published[0], RecordState::kWithdrawn);
  b.create(kNidB, 1400);
  ASSERT_EQ(b.cluster.published.size(), 2u);
  a.driver->applyRemote(b.cluster.published[1], RecordState::kActive);
  EXPECT_EQ(a.check().exitCode, 0) << a.check().text;
  EXPECT_EQ(b.check().exitCode, 0) << b.check().text;
  EXPECT_FALSE(a.driver->networkMtus()[0].mismatch());
  auto status = Json::parse(a.api->handle("/weft.Status", "").body);
  EXPECT_EQ(status["networkMtus"][0]["hosts"][kB], 1400);
}

TEST(DriverNetworkMtus, AnOlderPeerThatSaysNoMtuIsUnknownAndDoesNotFailTheCheck) {
  MtuHost a(kA);
  a.create(kNidA, std::nullopt);
  // An endpoint of the network on an older host: its record, no MTU record.
  a.driver->applyRemote({kIdentity, std::string(64, 'e'), "10.71.0.9/24", "", "02:42:0a:47:00:09", kB},
                        RecordState::kActive);
  auto views = a.driver->networkMtus();
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].unknown, (std::set<std::string>{kB}));
  EXPECT_FALSE(views[0].mismatch());
  auto c = a.check();
  EXPECT_EQ(c.exitCode, 0) << c.text;
  EXPECT_NE(c.text.find("NOTE network aaaaaaaaaaaa (subnet:10.71.0.0/24): MTU unknown on host(s) 198.18.0.2 "
                        "(an older weft that does not say it); not checked"),
            std::string::npos)
      << c.text;
  auto status = Json::parse(a.api->handle("/weft.Status", "").body);
  EXPECT_EQ(status["networkMtus"][0]["mtu"], 1450);
  EXPECT_EQ(status["networkMtus"][0]["hosts"][kB], "unknown");
  // Once upgraded it says its MTU: known, and the same.
  a.driver->applyRemote(NetworkMtus::record(kIdentity, 1450, kB), RecordState::kActive);
  EXPECT_TRUE(a.driver->networkMtus()[0].unknown.empty());
  EXPECT_EQ(a.check().text, "ok: no problems found on this host\n");
}

TEST(DriverNetworkMtus, AForgedMtuRecordIsRefusedAndChangesNothing) {
  MtuHost a(kA);
  a.create(kNidA, std::nullopt);
  auto forged = NetworkMtus::record(kIdentity, 1400, kB);
  forged.vtep = "198.18.0.9";  // the key names kB
  a.driver->applyRemote(forged, RecordState::kActive);
  EXPECT_TRUE(a.driver->networkMtus()[0].hosts.empty());
  EXPECT_TRUE(a.driver->remoteEndpoints().empty());
  EXPECT_EQ(a.check().exitCode, 0);
}
