// Cluster-wide IPAM through the driver: two drivers (fake kernels, own state
// directories) joined by an in-memory cluster that carries their lease
// records with a delay, like the sidecars would. What Docker's IPAM calls
// get back: unique addresses across hosts, --ip only when nobody holds it,
// clear errors for an exhausted pool, refused forged records.
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "driver/driver.h"
#include "kernel/fake_kernel.h"
#include "tests/support/temp_dir.h"

using namespace weft;
using namespace weft::driver;

namespace {

const std::map<std::string, std::string> kGateway = {{"RequestAddressType", kGatewayRequestType}};

// Carries lease records between drivers on its own thread (a driver
// publishes under its lock; delivering inline would take the other's).
class RelayCluster {
 public:
  ~RelayCluster() {
    stop_ = true;
    if (pump_.joinable()) pump_.join();
  }
  class Port : public Cluster {
   public:
    Port(RelayCluster& r, std::string self) : relay_(r), self_(std::move(self)) {}
    void publish(const EndpointRecord&) override {}
    void withdraw(const std::string&, const std::string&) override {}
    void addSeed(const std::string&) override {}
    void publishLease(const LeaseClaim& c) override {
      LeaseClaim out = c;
      out.owner = self_;
      relay_.push(self_, out, true);
    }
    void withdrawLease(const std::string& pool, uint32_t block) override {
      relay_.push(self_, LeaseClaim{pool, block, self_, 0, false, false, ""}, false);
    }

   private:
    RelayCluster& relay_;
    std::string self_;
  };
  void attach(const std::string& self, Driver* d) {
    std::lock_guard<std::mutex> lk(deliverMu_);
    drivers_[self] = d;
  }
  void start() {
    pump_ = std::thread([this] {
      while (!stop_) {
        std::deque<std::tuple<std::string, LeaseClaim, bool>> batch;
        {
          std::lock_guard<std::mutex> lk(mu_);
          batch.swap(queue_);
        }
        {
          // Not under mu_: a driver publishes (push) while it applies.
          std::lock_guard<std::mutex> lk(deliverMu_);
          for (const auto& [from, c, active] : batch)
            for (const auto& [id, d] : drivers_)
              if (id != from && d) d->applyLease(c, active);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  void push(const std::string& from, const LeaseClaim& c, bool active) {
    std::lock_guard<std::mutex> lk(mu_);
    queue_.emplace_back(from, c, active);
  }
  void detach(const std::string& self) {
    std::lock_guard<std::mutex> lk(deliverMu_);
    drivers_[self] = nullptr;
  }

 private:
  std::mutex mu_;         // the queue
  std::mutex deliverMu_;  // drivers_, held while delivering
  std::deque<std::tuple<std::string, LeaseClaim, bool>> queue_;
  std::map<std::string, Driver*> drivers_;
  std::atomic<bool> stop_{false};
  std::thread pump_;
};

struct Host {
  Host(const std::string& addr, RelayCluster& relay) : port(relay, addr) {
    kernel = std::make_unique<kernel::FakeKernel>(dir / "netns");
    cfg.stateDir = dir.path();
    cfg.advertiseAddr = addr;
    cfg.leaseRules.settleUs = 100'000;  // fast, and far above the relay's 5 ms
    cfg.leaseWait = std::chrono::milliseconds(3000);
  }
  Status start(RelayCluster& relay) {
    driver = std::make_unique<Driver>(cfg, *kernel);
    if (auto st = driver->start(); !st) return st;
    relay.attach(cfg.advertiseAddr, driver.get());
    driver->setCluster(&port);
    return Status::Ok();
  }
  std::string pool(const std::string& subnet) {
    auto g = driver->requestPool("", subnet, "", {}, false);
    EXPECT_TRUE(g.ok()) << g.error().message;
    auto gw = driver->requestAddress(g->poolId, "", kGateway);
    EXPECT_TRUE(gw.ok()) << gw.error().message;
    return g->poolId;
  }
  test::TempDir dir;
  DriverConfig cfg;
  std::unique_ptr<kernel::FakeKernel> kernel;
  std::unique_ptr<Driver> driver;
  RelayCluster::Port port;
};

class DriverLeases : public ::testing::Test {
 protected:
  void SetUp() override {
    relay_.start();
    ASSERT_TRUE(a_.start(relay_).ok());
    ASSERT_TRUE(b_.start(relay_).ok());
  }
  void TearDown() override {
    relay_.detach("198.18.0.1");
    relay_.detach("198.18.0.2");
  }
  // `rounds` addresses from each host's pool, in turn; all of them (a
  // repeat would shrink the set).
  std::set<std::string> allocateOnBoth(const std::string& poolA, const std::string& poolB, int rounds) {
    std::set<std::string> all;
    for (int i = 0; i < rounds; ++i) {
      auto x = a_.driver->requestAddress(poolA, "", {});
      EXPECT_TRUE(x.ok()) << x.error().message;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      auto y = b_.driver->requestAddress(poolB, "", {});
      EXPECT_TRUE(y.ok()) << y.error().message;
      if (!x.ok() || !y.ok()) break;
      all.insert(*x);
      all.insert(*y);
    }
    return all;
  }
  RelayCluster relay_;
  Host a_{"198.18.0.1", relay_}, b_{"198.18.0.2", relay_};
};

}  // namespace

TEST_F(DriverLeases, HostsAllocatingAtOnceNeverShareAnAddress) {
  auto pa = a_.pool("10.60.0.0/24"), pb = b_.pool("10.60.0.0/24");
  std::vector<std::string> ga, gb;
  auto run = [](Host& h, const std::string& pool, std::vector<std::string>* out) {
    for (int i = 0; i < 30; ++i) {
      auto r = h.driver->requestAddress(pool, "", {});
      ASSERT_TRUE(r.ok()) << r.error().message;
      out->push_back(*r);
    }
  };
  std::thread ta(run, std::ref(a_), pa, &ga), tb(run, std::ref(b_), pb, &gb);
  ta.join();
  tb.join();
  std::set<std::string> all(ga.begin(), ga.end());
  all.insert(gb.begin(), gb.end());
  EXPECT_EQ(all.size(), 60u);
  EXPECT_FALSE(all.count("10.60.0.1/24"));  // the shared gateway
  auto view = a_.driver->ipamView();
  EXPECT_TRUE(view["enabled"].get<bool>());
  ASSERT_EQ(view["pools"].size(), 1u);
  EXPECT_EQ(view["pools"][0]["pool"], "10.60.0.0/24");
  EXPECT_TRUE(view["pools"][0]["conflicts"].empty());
  std::set<std::string> owners;
  for (const auto& b : view["pools"][0]["held"])
    for (const auto& o : b["owners"]) owners.insert(o["owner"].get<std::string>());
  EXPECT_EQ(owners, (std::set<std::string>{"198.18.0.1", "198.18.0.2"}));
}

TEST_F(DriverLeases, RequestedAddressOnlyIfNoHostHoldsIt) {
  auto pa = a_.pool("10.60.0.0/24"), pb = b_.pool("10.60.0.0/24");
  auto x = a_.driver->requestAddress(pa, "", {});
  ASSERT_TRUE(x.ok()) << x.error().message;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the record reaches b
  auto taken = b_.driver->requestAddress(pb, x->substr(0, x->find('/')), {});
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.code(), EEXIST);
  EXPECT_NE(taken.error().message.find("held by host 198.18.0.1"), std::string::npos)
      << taken.error().message;
  auto outside = b_.driver->requestAddress(pb, "10.61.0.5", {});
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message.find("outside pool 10.60.0.0/24"), std::string::npos);
  auto free = b_.driver->requestAddress(pb, "10.60.0.200", {});
  ASSERT_TRUE(free.ok()) << free.error().message;
  EXPECT_EQ(*free, "10.60.0.200/24");
}

TEST_F(DriverLeases, ExhaustedPoolIsAClearErrorNamingTheHolders) {
  auto pa = a_.pool("10.60.0.0/27"), pb = b_.pool("10.60.0.0/27");  // 2 blocks of /28
  ASSERT_TRUE(a_.driver->requestAddress(pa, "", {}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(b_.driver->requestAddress(pb, "", {}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Result<std::string> last = std::string();
  for (int i = 0; i < 20 && last.ok(); ++i) last = b_.driver->requestAddress(pb, "", {});
  ASSERT_FALSE(last.ok());
  EXPECT_EQ(last.code(), ENOSPC);
  EXPECT_NE(last.error().message.find("exhausted cluster-wide"), std::string::npos) << last.error().message;
  EXPECT_NE(last.error().message.find("198.18.0.1 (1)"), std::string::npos) << last.error().message;
}

TEST_F(DriverLeases, ForgedTakeoverOfALiveHostsBlockIsRefusedAndCounted) {
  auto pa = a_.pool("10.60.0.0/24");
  b_.pool("10.60.0.0/24");
  auto x = a_.driver->requestAddress(pa, "", {});
  ASSERT_TRUE(x.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto before = b_.driver->ipamView();
  auto held = before["pools"][0]["held"];
  ASSERT_EQ(held.size(), 1u);
  auto block =
      BlockLayout::of(*Prefix::parse("10.60.0.0/24")).blockOf(*IpAddr::parse(x->substr(0, x->find('/'))));
  LeaseClaim forged{"10.60.0.0/24", *block, "198.18.0.9", 1, true, false, "198.18.0.1@1"};
  b_.driver->applyLease(forged, true);
  EXPECT_EQ(b_.driver->refusedLeases(), 1u);
  EXPECT_EQ(b_.driver->ipamView()["pools"], before["pools"]);  // nothing changed
}

TEST_F(DriverLeases, ARestartedHostKeepsItsBlockAndAddresses) {
  auto pa = a_.pool("10.60.0.0/24");
  auto x = a_.driver->requestAddress(pa, "", {});
  ASSERT_TRUE(x.ok());
  relay_.detach("198.18.0.1");
  ASSERT_TRUE(a_.start(relay_).ok());
  auto dup = a_.driver->requestAddress(pa, x->substr(0, x->find('/')), {});
  EXPECT_EQ(dup.code(), EEXIST);  // still allocated here
  auto y = a_.driver->requestAddress(pa, "", {});
  ASSERT_TRUE(y.ok()) << y.error().message;
  auto layout = BlockLayout::of(*Prefix::parse("10.60.0.0/24"));
  EXPECT_EQ(layout.blockOf(*IpAddr::parse(x->substr(0, x->find('/')))),
            layout.blockOf(*IpAddr::parse(y->substr(0, y->find('/')))));
}

TEST_F(DriverLeases, AnAddressAnotherHostUsesIsRefusedNamingThatHost) {
  // Docker's default IPAM on two hosts with one subnet: both hand out .2.
  CreateNetworkRequest n;
  n.networkId = std::string(64, 'a');
  n.ipv4.push_back({"", "10.70.0.0/24", "10.70.0.1/24", {}});
  ASSERT_TRUE(a_.driver->createNetwork(n).ok());
  const std::string identity = a_.driver->networks().at(0).identity;
  a_.driver->applyRemote(
      {identity, std::string(64, 'b'), "10.70.0.2/24", "", "02:42:0a:46:00:02", "198.18.0.2"},
      RecordState::kActive);
  auto clash = a_.driver->createEndpoint({n.networkId, std::string(64, 'c'), {"10.70.0.2/24", "", ""}});
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.code(), EEXIST);
  EXPECT_NE(clash.error().message.find("already used on host 198.18.0.2"), std::string::npos)
      << clash.error().message;
  EXPECT_NE(clash.error().message.find("--ipam-driver weft"), std::string::npos);
  EXPECT_TRUE(a_.driver->endpoints().empty());  // nothing changed
  EXPECT_TRUE(a_.driver->createEndpoint({n.networkId, std::string(64, 'c'), {"10.70.0.3/24", "", ""}}).ok());
}

TEST_F(DriverLeases, ReleasingALiveHostsBlocksIsRefused) {
  auto pa = a_.pool("10.60.0.0/24");
  b_.pool("10.60.0.0/24");
  ASSERT_TRUE(a_.driver->requestAddress(pa, "", {}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto r = b_.driver->releaseHost("198.18.0.1");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not gone"), std::string::npos) << r.error().message;
  EXPECT_EQ(b_.driver->releaseHost("198.18.0.2").code(), EINVAL);  // its own
  b_.driver->memberChanged("198.18.0.1", false);
  auto ok = b_.driver->releaseHost("198.18.0.1");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(*ok, 1u);
}

TEST_F(DriverLeases, APoolNamedWithoutASubnetIsClusterWide) {
  auto ga = a_.driver->requestPool("", "", "", {{kPoolNameOption, "app"}}, false);
  auto gb = b_.driver->requestPool("", "", "", {{kPoolNameOption, "app"}}, false);
  ASSERT_TRUE(ga.ok() && gb.ok());
  ASSERT_EQ(ga->pool, gb->pool);
  EXPECT_EQ(allocateOnBoth(ga->poolId, gb->poolId, 5).size(), 10u);
  EXPECT_EQ(a_.driver->ipamView()["pools"][0]["pool"], ga->pool);
}

TEST_F(DriverLeases, TheDefaultPoolIsClusterWideToo) {
  // A compose file with just `ipam: driver: weft` on two hosts: no subnet,
  // no name. Both hosts pick the same default /24 (one network to the
  // driver), so its addresses must not repeat across them.
  auto ga = a_.driver->requestPool("", "", "", {}, false);
  auto gb = b_.driver->requestPool("", "", "", {}, false);
  ASSERT_TRUE(ga.ok() && gb.ok());
  ASSERT_EQ(ga->pool, "10.213.0.0/24");
  ASSERT_EQ(ga->pool, gb->pool);
  EXPECT_EQ(allocateOnBoth(ga->poolId, gb->poolId, 3).size(), 6u);
  EXPECT_EQ(a_.driver->ipamView()["pools"][0]["pool"], "10.213.0.0/24");
}

TEST_F(DriverLeases, TwoNetworksOfOneHostSharingASubnetMayUseOneAddressEach) {
  // docker network create ... --subnet S -o weft.name=blue / =red: two
  // pools of one CIDR on one host, each with its own --ip 10.60.0.11.
  auto blue = a_.pool("10.60.0.0/24"), red = a_.pool("10.60.0.0/24");
  ASSERT_TRUE(a_.driver->requestAddress(blue, "10.60.0.11", {}).ok());
  auto again = a_.driver->requestAddress(red, "10.60.0.11", {});
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(a_.driver->requestAddress(red, "10.60.0.11", {}).code(), EEXIST);  // once per pool
  // Released by one, still held by the other: the book keeps it.
  ASSERT_TRUE(a_.driver->releaseAddress(blue, "10.60.0.11").ok());
  auto view = a_.driver->ipamView();
  bool inUse = false;
  for (const auto& b : view["pools"][0]["held"])
    for (const auto& o : b["owners"])
      if (o.value("self", false) && o["inUse"].get<int>() == 1) inUse = true;
  EXPECT_TRUE(inUse);
  ASSERT_TRUE(a_.driver->releaseAddress(red, "10.60.0.11").ok());
  view = a_.driver->ipamView();
  for (const auto& b : view["pools"][0]["held"])
    for (const auto& o : b["owners"])
      if (o.value("self", false)) {
        EXPECT_EQ(o["inUse"].get<int>(), 0);
      }
}

// Gossip keeps a dead host's endpoint records until it is reaped; once its
// block is reclaimed, its endpoints there are forgotten here, so the block's
// new addresses are not sent to the dead host.
TEST_F(DriverLeases, AReclaimedBlocksRemoteEndpointsOfTheGoneHostAreForgotten) {
  auto pa = a_.pool("10.60.0.0/28");  // one block
  auto pb = b_.pool("10.60.0.0/28");
  auto x = a_.driver->requestAddress(pa, "", {});
  ASSERT_TRUE(x.ok()) << x.error().message;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const EndpointRecord stale{"subnet:10.60.0.0/28", std::string(64, 'a'), *x, "",
                             "02:00:00:00:00:0a",   "198.18.0.1"};
  const EndpointRecord other{"subnet:10.60.0.0/28", std::string(64, 'b'), "10.70.0.5/24", "",
                             "02:00:00:00:00:0b",   "198.18.0.1"};
  b_.driver->applyRemote(stale, RecordState::kActive);
  b_.driver->applyRemote(other, RecordState::kActive);
  EXPECT_EQ(b_.driver->remoteEndpoints().size(), 2u);  // a is alive: its block and endpoints stay
  relay_.detach("198.18.0.1");
  b_.driver->memberChanged("198.18.0.1", false);
  ASSERT_TRUE(b_.driver->releaseHost("198.18.0.1").ok());
  auto y = b_.driver->requestAddress(pb, "", {});  // the takeover
  ASSERT_TRUE(y.ok()) << y.error().message;
  b_.driver->syncPeers();
  auto left = b_.driver->remoteEndpoints();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].endpoint, other.endpoint);  // outside the block: kept
}
