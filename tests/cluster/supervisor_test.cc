// The supervisor against a fake sidecar over a socketpair: restart with
// backoff, replay of local endpoints, resync and prune of remote ones,
// untrusted input, and publishing that never waits for the sidecar.

#include "cluster/supervisor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <thread>

#include "driver/driver.h"
#include "kernel/fake_kernel.h"
#include "tests/cluster/fake_sidecar.h"
#include "tests/support/kernel_values.h"
#include "tests/support/temp_dir.h"

using namespace weft;
using namespace weft::cluster;
using namespace std::chrono;
using test::FakeLauncher;
using test::SidecarEnd;

namespace {

const std::string kIdentity = "subnet:10.10.0.0/24";

bool eventually(const std::function<bool()>& pred, milliseconds timeout = milliseconds(5000)) {
  auto deadline = steady_clock::now() + timeout;
  while (steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

driver::EndpointRecord local(int i, const std::string& network = kIdentity) {
  char id[65];
  std::snprintf(id, sizeof id, "%064d", i);
  char ip[32];
  std::snprintf(ip, sizeof ip, "10.%d.%d.%d/8", (i >> 16) & 255, (i >> 8) & 255, i & 255);
  return {network, id, ip, "", "02:42:0a:0a:00:02", "198.18.0.1"};
}

ipc::Record remote(char c, const std::string& vtep) {
  return {kIdentity,
          std::string(64, c),
          "10.10.0." + std::to_string(c - 'a' + 10) + "/24",
          "",
          "02:42:0a:0a:00:" + std::string(2, c),
          vtep};
}

ipc::Record toIpc(const driver::EndpointRecord& r) {
  return {r.network, r.endpoint, r.ipv4, r.ipv6, r.mac, r.vtep};
}

class RecordingSink : public driver::PeerSink {
 public:
  void applyRemote(const driver::EndpointRecord& r, driver::RecordState state) override {
    std::lock_guard<std::mutex> lk(mu_);
    applied_.emplace_back(r, state == driver::RecordState::kActive);
  }
  void beginResync() override { ++resyncs_; }
  size_t prunePeers() override {
    ++prunes_;
    return 0;
  }
  std::vector<std::pair<driver::EndpointRecord, bool>> applied() {
    std::lock_guard<std::mutex> lk(mu_);
    return applied_;
  }
  std::atomic<int> resyncs_{0};
  std::atomic<int> prunes_{0};

 private:
  std::mutex mu_;
  std::vector<std::pair<driver::EndpointRecord, bool>> applied_;
};

SupervisorOptions fastOptions() {
  SupervisorOptions o;
  o.config = {"198.18.0.1", "198.18.0.1:7947", "198.18.0.1:7947", "weft", {"a2V5"}, {"198.18.0.2"}};
  o.backoffInitial = milliseconds(40);
  o.backoffMax = milliseconds(1000);
  o.pruneAfterReady = milliseconds(60000);
  o.prunePeriod = milliseconds(60000);
  return o;
}

// Collects the plugin's messages until `n` have come; nullopt items end it.
std::vector<ipc::ToSidecar> take(SidecarEnd& end, size_t n) {
  std::vector<ipc::ToSidecar> out;
  while (out.size() < n) {
    auto m = end.next();
    if (!m) break;
    out.push_back(*m);
  }
  return out;
}

// Launch n, configured and ready: the sidecar's end of its channel.
std::optional<SidecarEnd> readySidecar(FakeLauncher& launcher, size_t n) {
  auto end = launcher.launched(n);
  if (!end || !end->readConfiguration().complete || !end->send(ipc::ReadyEvent{"198.18.0.1", "fp"}))
    return std::nullopt;
  return end;
}

// A supervisor over fake sidecars, reporting into a recording sink.
class SupervisorTest : public ::testing::Test {
 protected:
  FakeLauncher launcher;
  RecordingSink sink;
  Supervisor sup{fastOptions(), launcher, sink};
};

}  // namespace

TEST_F(SupervisorTest, RestartsADeadSidecarWithGrowingBackoff) {
  sup.start();
  for (size_t i = 0; i < 3; ++i) {
    auto end = launcher.launched(i);
    ASSERT_TRUE(end) << "launch " << i;
    auto cfg = end->readConfiguration();
    ASSERT_TRUE(cfg.complete);
    EXPECT_EQ(cfg.config.seeds, std::vector<std::string>{"198.18.0.2:7947"});  // the port added
    if (i < 2) launcher.kill(i);
  }
  auto t = launcher.times();
  EXPECT_GE(t[1] - t[0], milliseconds(40));
  EXPECT_GE(t[2] - t[1], milliseconds(80));  // doubled
  EXPECT_EQ(sup.restarts(), 2);
  sup.stop();
  EXPECT_EQ(launcher.launches(), 3u);  // stopping is not a death
}

TEST_F(SupervisorTest, ReplaysLocalEndpointsToEveryNewSidecar) {
  sup.publish(local(1));
  sup.publish(local(2));
  sup.start();
  auto first = launcher.launched(0);
  ASSERT_TRUE(first);
  auto cfg = first->readConfiguration();
  ASSERT_TRUE(cfg.complete);
  EXPECT_EQ(cfg.endpoints, (std::vector<ipc::Record>{toIpc(local(1)), toIpc(local(2))}));
  ASSERT_TRUE(first->send(ipc::ReadyEvent{"198.18.0.1", "fp"}));
  EXPECT_TRUE(eventually([&] { return sink.resyncs_ == 1; }));

  sup.publish(local(3));
  auto m = first->next();
  ASSERT_TRUE(m);
  EXPECT_EQ(std::get<ipc::PublishMsg>(*m).record, toIpc(local(3)));
  sup.withdraw(kIdentity, local(1).endpoint);
  m = first->next();
  ASSERT_TRUE(m);
  EXPECT_EQ(std::get<ipc::WithdrawMsg>(*m), (ipc::WithdrawMsg{kIdentity, local(1).endpoint}));

  launcher.kill(0);
  sup.publish(local(4));  // while no sidecar runs
  auto second = launcher.launched(1);
  ASSERT_TRUE(second);
  cfg = second->readConfiguration();
  ASSERT_TRUE(cfg.complete);
  EXPECT_EQ(cfg.endpoints, (std::vector<ipc::Record>{toIpc(local(2)), toIpc(local(3)), toIpc(local(4))}));
  // Between the configuration and ready: sent once the sidecar is ready.
  sup.publish(local(5));
  sup.withdraw(kIdentity, local(2).endpoint);
  EXPECT_FALSE(second->next(milliseconds(100)));
  ASSERT_TRUE(second->send(ipc::ReadyEvent{"198.18.0.1", "fp"}));
  auto after = take(*second, 2);
  ASSERT_EQ(after.size(), 2u);
  bool published5 = false, withdrew2 = false;
  for (const auto& x : after) {
    if (const auto* p = std::get_if<ipc::PublishMsg>(&x)) published5 = p->record == toIpc(local(5));
    if (const auto* w = std::get_if<ipc::WithdrawMsg>(&x)) withdrew2 = w->endpoint == local(2).endpoint;
  }
  EXPECT_TRUE(published5);
  EXPECT_TRUE(withdrew2);
  EXPECT_FALSE(second->next(milliseconds(100)));  // nothing else: 3 and 4 it had
}

TEST_F(SupervisorTest, SeedsReachTheRunningSidecarAndTheNextOne) {
  sup.start();
  auto first = readySidecar(launcher, 0);
  ASSERT_TRUE(first);
  sup.addSeed("198.18.0.3");
  sup.addSeed("198.18.0.2");  // known already
  auto m = first->next();
  ASSERT_TRUE(m);
  EXPECT_EQ(std::get<ipc::SeedsMsg>(*m).seeds, std::vector<std::string>{"198.18.0.3:7947"});
  launcher.kill(0);
  auto second = launcher.launched(1);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->readConfiguration().config.seeds,
            (std::vector<std::string>{"198.18.0.2:7947", "198.18.0.3:7947"}));
}

// weft does not mix underlay families: a seed of the other family than the
// advertise address (a swarm node's, say) never reaches a sidecar.
TEST_F(SupervisorTest, SeedsOfTheOtherFamilyAreLeftOut) {
  sup.start();
  auto first = readySidecar(launcher, 0);
  ASSERT_TRUE(first);
  sup.addSeed("fd18::4");
  sup.addSeed("[fd18::5]:7947");
  sup.addSeed("198.18.0.5");
  auto m = first->next();
  ASSERT_TRUE(m);
  EXPECT_EQ(std::get<ipc::SeedsMsg>(*m).seeds, std::vector<std::string>{"198.18.0.5:7947"});
  launcher.kill(0);
  auto second = launcher.launched(1);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->readConfiguration().config.seeds,
            (std::vector<std::string>{"198.18.0.2:7947", "198.18.0.5:7947"}));
}

// With the real driver as the sink: what a new sidecar re-confirms stays,
// what it does not is forgotten once the prune window has passed.
TEST(Supervisor, ResyncKeepsReconfirmedRemoteEndpointsAndPrunesTheRest) {
  test::TempDir dir;
  kernel::FakeKernel kernel(dir / "netns");
  driver::DriverConfig dc;
  dc.stateDir = dir.path();
  dc.advertiseAddr = "198.18.0.1";
  driver::Driver drv(dc, kernel);
  ASSERT_TRUE(drv.start().ok());
  const std::string nid(64, 'a'), eid(64, 'e');
  driver::CreateNetworkRequest cn;
  cn.networkId = nid;
  cn.ipv4.push_back({"", "10.10.0.0/24", "10.10.0.1/24", {}});
  ASSERT_TRUE(drv.createNetwork(cn).ok());
  ASSERT_TRUE(drv.createEndpoint({nid, eid, {"10.10.0.2/24", "", ""}}).ok());
  ASSERT_TRUE(drv.join(nid, eid, "").ok());

  FakeLauncher launcher;
  auto opts = fastOptions();
  opts.pruneAfterReady = milliseconds(1000);
  Supervisor sup(opts, launcher, drv);
  drv.setCluster(&sup);
  sup.start();
  auto first = launcher.launched(0);
  ASSERT_TRUE(first);
  auto cfg = first->readConfiguration();
  // The driver's joined endpoint, and this host's MTU record for the network.
  ASSERT_EQ(cfg.endpoints.size(), 2u);
  EXPECT_EQ(std::count_if(cfg.endpoints.begin(), cfg.endpoints.end(),
                          [](const auto& r) { return r.network == kIdentity; }),
            1);
  EXPECT_EQ(std::count_if(cfg.endpoints.begin(), cfg.endpoints.end(),
                          [](const auto& r) { return r.network == "mtu:" + kIdentity; }),
            1);
  ASSERT_TRUE(first->send(ipc::ReadyEvent{"198.18.0.1", "fp"}));
  const auto gone = remote('b', "198.18.0.2"), stays = remote('c', "198.18.0.3");
  ASSERT_TRUE(first->send(ipc::RecordEvent{true, gone, "198.18.0.2"}));
  ASSERT_TRUE(first->send(ipc::RecordEvent{true, stays, "198.18.0.3"}));
  ASSERT_TRUE(eventually([&] { return drv.remoteEndpoints().size() == 2; }));

  launcher.kill(0);  // `gone` is deleted while no sidecar runs
  auto second = launcher.launched(1);
  ASSERT_TRUE(second);
  ASSERT_TRUE(second->readConfiguration().complete);
  ASSERT_TRUE(second->send(ipc::ReadyEvent{"198.18.0.1", "fp"}));
  ASSERT_TRUE(second->send(ipc::RecordEvent{true, stays, "198.18.0.3"}));  // re-confirmed
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(drv.remoteEndpoints().size(), 2u);  // within the window nothing is forgotten
  ASSERT_TRUE(eventually([&] { return drv.remoteEndpoints().size() == 1; }));
  EXPECT_EQ(drv.remoteEndpoints()[0].endpoint, stays.endpoint);
  // The kernel follows the records (the peer table programs right after the
  // prune, outside the driver's lock).
  const auto n = drv.networks().at(0);
  auto towardsGone = [&] {
    auto fdb = kernel.listFdb(n.netns, n.vxlanName);
    return fdb.ok() && std::any_of(fdb->begin(), fdb->end(),
                                   [](const auto& e) { return e.dst == testvalues::ip("198.18.0.2"); });
  };
  EXPECT_TRUE(eventually([&] { return !towardsGone(); }));
  auto fdb = kernel.listFdb(n.netns, n.vxlanName);
  ASSERT_TRUE(fdb.ok());
  EXPECT_FALSE(fdb->empty());  // `stays` is still programmed
  for (const auto& e : *fdb) EXPECT_NE(e.dst, testvalues::ip("198.18.0.2"));
  sup.stop();
  drv.setCluster(nullptr);
}

TEST_F(SupervisorTest, RefusesMalformedMessagesAndKeepsServing) {
  sup.publish(local(1));  // this host carries kIdentity
  sup.start();
  auto end = readySidecar(launcher, 0);
  ASSERT_TRUE(end);
  const std::string e(64, 'b');
  const std::string bad[] = {
      // A wrong JSON type: an uncaught type_error aborted weft-plugin before.
      "{\"event\":\"record\",\"active\":\"yes\",\"network\":\"" + kIdentity + "\",\"endpoint\":\"" + e +
          "\",\"ipv4\":\"10.10.0.9/24\",\"ipv6\":\"\",\"mac\":\"02:42:0a:0a:00:09\",\"vtep\":\"198.18.0.2\","
          "\"owner\":\"x\"}",
      "{\"event\":\"record\",\"active\":true,\"network\":[1],\"endpoint\":7}",
      "{\"event\":\"status\",\"members\":{}}",
      "{\"event\":\"ready\",\"id\":5}",
      "{\"event\":\"record\",\"active\":true,\"network\":\"" + std::string(5000, 'n') + "\"}",
      std::string(60000, '[') + std::string(60000, ']'),  // fits one datagram
      "\xff\xfe garbage",
  };
  for (const auto& text : bad) ASSERT_TRUE(end->sendRaw(text));
  auto badVtep = remote('d', "198.18.0.999");
  ASSERT_TRUE(end->send(ipc::RecordEvent{true, badVtep, "x"}));
  ASSERT_TRUE(eventually([&] { return sup.refusedMessages() == std::size(bad) + 1; }));
  auto good = remote('c', "198.18.0.3");
  ASSERT_TRUE(end->send(ipc::RecordEvent{true, good, "198.18.0.3"}));
  ASSERT_TRUE(eventually([&] { return sink.applied().size() == 1; }));
  EXPECT_EQ(sink.applied()[0].first.endpoint, good.endpoint);
  EXPECT_EQ(sink.resyncs_, 1);  // the malformed "ready" did not count
}

TEST_F(SupervisorTest, DropsRecordsOfNetworksThisHostDoesNotCarry) {
  sup.publish(local(1));
  sup.start();
  auto end = readySidecar(launcher, 0);
  ASSERT_TRUE(end);
  std::thread flood([&] {
    for (int i = 0; i < 2000; ++i) {
      auto r = remote('b', "198.18.0.2");
      r.network = "subnet:10.99." + std::to_string(i % 250) + ".0/24";
      if (!end->send(ipc::RecordEvent{i % 2 == 0, r, "198.18.0.2"})) return;
    }
  });
  flood.join();
  auto good = remote('c', "198.18.0.3");
  ASSERT_TRUE(end->send(ipc::RecordEvent{true, good, "198.18.0.3"}));
  ASSERT_TRUE(eventually([&] { return sink.applied().size() == 1; }));
  EXPECT_EQ(sup.droppedRecords(), 2000u);
  // Its withdrawal passes; one of a record never passed on does not.
  ASSERT_TRUE(end->send(ipc::RecordEvent{false, good, "198.18.0.3"}));
  ASSERT_TRUE(end->send(ipc::RecordEvent{false, remote('f', "198.18.0.3"), "198.18.0.3"}));
  ASSERT_TRUE(eventually([&] { return sink.applied().size() == 2 && sup.droppedRecords() == 2001u; }));
  EXPECT_FALSE(sink.applied()[1].second);
  // The network stops being carried with its last local endpoint.
  sup.withdraw(kIdentity, local(1).endpoint);
  ASSERT_TRUE(end->send(ipc::RecordEvent{true, good, "198.18.0.3"}));
  ASSERT_TRUE(eventually([&] { return sup.droppedRecords() == 2002u; }));
  EXPECT_EQ(sink.applied().size(), 2u);
}

// The sidecar stops reading (SIGSTOP): callers (the driver, under its lock)
// are not held up, and once it reads again it gets the latest state of every
// endpoint, nothing lost.
TEST_F(SupervisorTest, PublishingNeverWaitsForAStalledSidecar) {
  sup.start();
  auto end = readySidecar(launcher, 0);
  ASSERT_TRUE(end);
  // The fake now reads nothing: far more than a socket buffer's worth.
  const int kEndpoints = 5000;
  auto t0 = steady_clock::now();
  for (int i = 0; i < kEndpoints; ++i) sup.publish(local(i));
  for (int round = 0; round < 50; ++round) {
    auto r = local(7);
    r.ipv4 = "10.7.7." + std::to_string(round + 1) + "/8";
    sup.publish(r);
  }
  for (int i = 100; i < kEndpoints; ++i) sup.withdraw(kIdentity, local(i).endpoint);
  auto publishTime = steady_clock::now() - t0;
  EXPECT_LT(publishTime, milliseconds(1000)) << "publish/withdraw waited for the sidecar";
  // A status request does not hang on it either.
  auto s0 = steady_clock::now();
  EXPECT_FALSE(sup.status(milliseconds(200)).ok());
  EXPECT_LT(steady_clock::now() - s0, milliseconds(2000));

  // It reads again: replay its messages over an empty table.
  std::map<std::string, ipc::Record> seen;
  size_t messages = 0;
  for (;;) {
    auto m = end->next(milliseconds(500));
    if (!m) break;
    ++messages;
    if (const auto* p = std::get_if<ipc::PublishMsg>(&*m)) seen[p->record.endpoint] = p->record;
    if (const auto* w = std::get_if<ipc::WithdrawMsg>(&*m)) seen.erase(w->endpoint);
  }
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    auto want = toIpc(local(i));
    if (i == 7) want.ipv4 = "10.7.7.50/8";  // the latest of its 51 states
    EXPECT_EQ(seen[want.endpoint], want) << i;
  }
  EXPECT_LT(messages, static_cast<size_t>(2 * kEndpoints + 50));  // coalesced
}

// The queue is bounded by the live state, not by the churn: containers
// started and stopped while the sidecar is stopped leave nothing queued.
TEST_F(SupervisorTest, EndpointsThatComeAndGoDuringAStallLeaveNothingQueued) {
  sup.start();
  auto end = readySidecar(launcher, 0);
  ASSERT_TRUE(end);
  const size_t kLive = 5000;  // more than the channel holds: the sender blocks
  for (size_t i = 0; i < kLive; ++i) sup.publish(local(static_cast<int>(i)));
  for (int i = 10000; i < 30000; ++i) {
    sup.publish(local(i));
    sup.withdraw(kIdentity, local(i).endpoint);
  }
  EXPECT_LE(sup.pendingSends(), kLive);
  EXPECT_GT(sup.pendingSends(), 0u);  // the sidecar really is not reading
}

TEST_F(SupervisorTest, ConfiguresASidecarWith5000EndpointsInBoundedMessages) {
  for (int i = 0; i < 5000; ++i) sup.publish(local(i));
  sup.start();
  auto end = launcher.launched(0);
  ASSERT_TRUE(end);
  auto cfg = end->readConfiguration();
  ASSERT_TRUE(cfg.complete);
  EXPECT_EQ(cfg.endpoints.size(), 5000u);
  EXPECT_LT(cfg.largestMessage, 1024u);
}

// Liveness (issue 10, finding 9): a sidecar that stops answering (stopped by
// a signal, deadlocked, spinning) is killed and restarted within the
// deadline, through the same restart and replay as a dead one.
SupervisorOptions livenessOptions() {
  SupervisorOptions o = fastOptions();
  o.livenessInterval = milliseconds(20);
  o.livenessDeadline = milliseconds(300);
  return o;
}

TEST(SupervisorLiveness, KillsAndRestartsASidecarThatStopsAnswering) {
  FakeLauncher launcher;
  RecordingSink sink;
  Supervisor sup{livenessOptions(), launcher, sink};
  sup.publish(local(1));
  sup.start();
  auto first = readySidecar(launcher, 0);
  ASSERT_TRUE(first);
  // Answering its pings for three deadlines: it is left alone.
  auto until = steady_clock::now() + milliseconds(900);
  while (steady_clock::now() < until) first->next(milliseconds(10));
  EXPECT_GT(first->pings(), 10u);
  EXPECT_EQ(launcher.launches(), 1u);
  EXPECT_EQ(sup.livenessKills(), 0);

  // Silent from now on (the test stops reading its end).
  auto silentSince = steady_clock::now();
  auto second = launcher.launched(1, milliseconds(3000));
  ASSERT_TRUE(second) << "a silent sidecar was not replaced";
  auto took = launcher.times()[1] - silentSince;
  EXPECT_GE(took, milliseconds(250));  // not before the deadline (less up to two ping intervals)
  EXPECT_LE(took, milliseconds(300) + milliseconds(20) + milliseconds(40) + milliseconds(500));
  EXPECT_TRUE(launcher.killed(0));
  EXPECT_EQ(sup.livenessKills(), 1);
  EXPECT_EQ(sup.restarts(), 1);
  // The normal restart path: configuration with the endpoint, then ready.
  auto cfg = second->readConfiguration();
  ASSERT_TRUE(cfg.complete);
  EXPECT_EQ(cfg.endpoints, std::vector<ipc::Record>{toIpc(local(1))});
  ASSERT_TRUE(second->send(ipc::ReadyEvent{"198.18.0.1", "fp"}));
  EXPECT_TRUE(eventually([&] { return sink.resyncs_ == 2; }));
  sup.stop();
}

TEST(SupervisorLiveness, ASidecarThatNeverBecomesReadyIsReplaced) {
  FakeLauncher launcher;
  RecordingSink sink;
  Supervisor sup{livenessOptions(), launcher, sink};
  sup.start();
  auto first = launcher.launched(0);
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->readConfiguration().complete);  // and then no ReadyEvent, no answer
  ASSERT_TRUE(launcher.launched(1, milliseconds(3000)));
  EXPECT_TRUE(launcher.killed(0));
  EXPECT_EQ(sup.livenessKills(), 1);
}
