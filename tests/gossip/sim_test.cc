// Simulations: the real membership and dissemination code, many nodes, one
// process, virtual time, fixed seeds.
#include <gtest/gtest.h>

#include "gossip/messages.h"
#include "gossip/seal.h"
#include "gossip/sim/sim_cluster.h"

namespace weft::gossip::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Key keyOf(uint8_t fill) {
  Key k;
  k.fill(fill);
  return k;
}

NodeConfig testConfig() {
  NodeConfig c;
  c.membership.probeInterval = milliseconds(250);
  c.membership.probeTimeout = milliseconds(100);
  c.membership.reapAfter = seconds(60);
  c.antiEntropyInterval = seconds(2);
  return c;
}

EndpointRecord endpoint(const std::string& net, const std::string& ep, const std::string& ip) {
  EndpointRecord r;
  r.network = net;
  r.endpoint = ep;
  r.ipv4 = ip;
  r.mac = "02:42:00:00:00:01";
  r.vtep = "198.18.0.1";
  return r;
}

struct Fixture {
  explicit Fixture(uint64_t seed, LinkModel link = {}, NodeConfig cfg = testConfig())
      : net(seed, link), cluster(net, cfg, Keyring(keyOf(7)), seed) {}
  Time at(Duration d) { return net.now() + d; }
  SimNetwork net;
  SimCluster cluster;
};

// Every up node carrying `net` sees exactly `count` active records there.
bool recordsConverged(SimCluster& c, const std::string& net, size_t count) {
  for (size_t i = 0; i < c.size(); ++i) {
    if (!c.up(i) || !c.node(i).networks().count(net)) continue;
    if (c.node(i).endpoints(net).size() != count) return false;
  }
  return true;
}

TEST(Sim, ThreeNodesConvergeAndShareRecords) {
  Fixture f(1);
  ASSERT_TRUE(f.cluster.bootstrap(3, seconds(5)));
  for (size_t i = 0; i < 3; ++i)
    f.cluster.node(i).publish(endpoint("blue", "ep" + std::to_string(i), "10.0.0." + std::to_string(i + 2)));
  ASSERT_TRUE(f.net.runUntilTrue([&] { return recordsConverged(f.cluster, "blue", 3); }, f.at(seconds(3))));
  const EndpointRecord* r = f.cluster.node(2).findEndpoint("blue", "ep0");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->owner, "node-0");
  EXPECT_EQ(r->ipv4, "10.0.0.2");

  f.cluster.node(0).withdraw("blue", "ep0");
  ASSERT_TRUE(f.net.runUntilTrue([&] { return recordsConverged(f.cluster, "blue", 2); }, f.at(seconds(3))));
  EXPECT_EQ(f.cluster.node(1).findEndpoint("blue", "ep0"), nullptr);
  EXPECT_TRUE(f.cluster.node(0).networks().empty()) << "no local endpoint left: network dropped";
}

TEST(Sim, MessagesAreCountedByKindOnBothEnds) {
  Fixture f(1);
  ASSERT_TRUE(f.cluster.bootstrap(3, seconds(5)));
  f.cluster.node(0).publish(endpoint("blue", "ep0", "10.0.0.2"));
  f.cluster.node(1).publish(endpoint("blue", "ep1", "10.0.0.3"));
  ASSERT_TRUE(f.net.runUntilTrue([&] { return recordsConverged(f.cluster, "blue", 2); }, f.at(seconds(3))));
  f.net.runUntil(f.at(seconds(2)));
  std::array<uint64_t, kMessageTypes> sent{}, received{};
  for (size_t i = 0; i < 3; ++i)
    for (size_t t = 0; t < kMessageTypes; ++t) {
      sent[t] += f.cluster.node(i).stats().messagesSent[t];
      received[t] += f.cluster.node(i).stats().messagesReceived[t];
    }
  for (const char* kind : {"ping", "ack", "record"}) {
    size_t t = 0;
    while (t < kMessageTypes && std::string(messageTypeName(t)) != kind) ++t;
    ASSERT_LT(t, kMessageTypes);
    EXPECT_GT(sent[t], 0u) << kind;
    EXPECT_GT(received[t], 0u) << kind;
    // A lossless network: what arrived was sent (some may be in flight).
    EXPECT_LE(received[t], sent[t]) << kind;
  }
}

TEST(Sim, FiftyNodesConvergeAndEveryRecordReachesEveryCarrier) {
  Fixture f(2);
  ASSERT_TRUE(f.cluster.bootstrap(50, seconds(20)));
  for (size_t i = 0; i < 50; i += 5)
    f.cluster.node(i).publish(endpoint("red", "ep" + std::to_string(i), "10.1.0." + std::to_string(i + 2)));
  ASSERT_TRUE(f.net.runUntilTrue([&] { return recordsConverged(f.cluster, "red", 10); }, f.at(seconds(5))));
  // Only carriers keep the records.
  EXPECT_TRUE(f.cluster.node(1).table().networks.empty());
  EXPECT_EQ(f.cluster.node(45).endpoints("red").size(), 10u);
}

TEST(Sim, CrashIsDetectedByEveryNodeAndRecordsAreSuspendedThenDropped) {
  Fixture f(3);
  ASSERT_TRUE(f.cluster.bootstrap(20, seconds(10)));
  f.cluster.node(5).publish(endpoint("n", "victim-ep", "10.2.0.5"));
  f.cluster.node(6).publish(endpoint("n", "other-ep", "10.2.0.6"));
  ASSERT_TRUE(f.net.runUntilTrue([&] { return recordsConverged(f.cluster, "n", 2); }, f.at(seconds(3))));

  const Time crashAt = f.net.now();
  f.cluster.crash(5);
  ASSERT_TRUE(f.net.runUntilTrue([&] { return f.cluster.countSeeing("node-5", {MemberState::kDead}) == 19; },
                                 f.at(seconds(15))));
  const auto detect = std::chrono::duration_cast<milliseconds>(f.net.now() - crashAt);
  EXPECT_LT(detect, seconds(8)) << "took " << detect.count() << " ms";
  // Suspended, not forgotten.
  EXPECT_EQ(f.cluster.node(6).endpoints("n").size(), 1u);
  EXPECT_NE(findRecord(f.cluster.node(6).table(), "n", "victim-ep"), nullptr);
  // Reaped after reapAfter (60 s in this config): gone.
  f.net.runFor(seconds(65));
  EXPECT_EQ(findRecord(f.cluster.node(6).table(), "n", "victim-ep"), nullptr);
  EXPECT_EQ(f.cluster.node(6).membership().find("node-5"), nullptr);
}

TEST(Sim, NoFalseDeathsAtTenPercentLoss) {
  LinkModel lossy;
  lossy.loss = 0.10;
  Fixture f(4, lossy);
  ASSERT_TRUE(f.cluster.bootstrap(30, seconds(30)));
  uint64_t deadBefore = 0;
  for (size_t i = 0; i < 30; ++i) deadBefore += f.cluster.node(i).membership().stats().deadDeclared;
  f.net.runFor(seconds(120));  // 60 node-minutes
  uint64_t dead = 0, suspicions = 0, refutations = 0;
  for (size_t i = 0; i < 30; ++i) {
    dead += f.cluster.node(i).membership().stats().deadDeclared;
    suspicions += f.cluster.node(i).membership().stats().suspicionsRaised;
    refutations += f.cluster.node(i).membership().stats().refutations;
  }
  EXPECT_EQ(dead - deadBefore, 0u) << suspicions << " suspicions, " << refutations << " refutations";
  EXPECT_GT(suspicions, 0u) << "the loss must actually cause suspicions for this test to mean anything";
  // Under loss some member may be suspected at any instant, but nobody is dead.
  for (size_t i = 0; i < 30; ++i)
    EXPECT_EQ(f.cluster.countSeeing(f.cluster.id(i), {MemberState::kAlive, MemberState::kSuspect}), 29u) << i;
}

TEST(Sim, PartitionThenHealConverges) {
  Fixture f(5);
  ASSERT_TRUE(f.cluster.bootstrap(10, seconds(10)));
  for (size_t i = 0; i < 10; ++i) f.net.setPartition(f.cluster.addr(i), i < 5 ? 1 : 2);
  f.net.runFor(seconds(20));
  EXPECT_EQ(f.cluster.countSeeing("node-9", {MemberState::kDead}), 5u) << "the other side is declared dead";
  // Changes on both sides during the partition.
  f.cluster.node(0).publish(endpoint("g", "left-ep", "10.3.0.1"));
  f.cluster.node(9).publish(endpoint("g", "right-ep", "10.3.0.9"));
  f.cluster.node(1).publish(endpoint("g", "left-ep2", "10.3.0.2"));
  f.net.runFor(seconds(5));
  f.net.healPartitions();
  ASSERT_TRUE(f.net.runUntilTrue([&] { return f.cluster.membershipConverged(); }, f.at(seconds(60))));
  ASSERT_TRUE(f.net.runUntilTrue([&] { return recordsConverged(f.cluster, "g", 3); }, f.at(seconds(30))));
}

TEST(Sim, NodeWithWrongKeyCannotJoin) {
  Fixture f(6);
  ASSERT_TRUE(f.cluster.bootstrap(3, seconds(5)));
  const size_t intruder = f.cluster.add(Keyring(keyOf(99)));
  f.cluster.join(intruder, {0, 1});
  f.net.runFor(seconds(10));
  EXPECT_TRUE(f.cluster.node(intruder).membership().members().empty());
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(f.cluster.node(i).membership().find("node-3"), nullptr);
  EXPECT_GT(f.cluster.node(0).stats().forged + f.cluster.node(1).stats().forged, 0u);
}

TEST(Sim, KeyRotationWithoutDowntime) {
  Fixture f(7);
  ASSERT_TRUE(f.cluster.bootstrap(5, seconds(5)));
  for (size_t i = 0; i < 5; ++i) f.cluster.node(i).keyring().add(keyOf(8));
  f.net.runFor(seconds(1));
  for (size_t i = 0; i < 5; ++i) ASSERT_TRUE(f.cluster.node(i).keyring().use(keyOf(8)).ok());
  f.net.runFor(seconds(1));
  for (size_t i = 0; i < 5; ++i) ASSERT_TRUE(f.cluster.node(i).keyring().remove(keyOf(7)).ok());
  f.net.runFor(seconds(5));
  EXPECT_TRUE(f.cluster.membershipConverged());
  uint64_t forged = 0;
  for (size_t i = 0; i < 5; ++i) forged += f.cluster.node(i).stats().forged;
  EXPECT_EQ(forged, 0u);
}

TEST(Sim, RestartedNodeRejoinsWithHigherIncarnationAndNewRecordsWin) {
  Fixture f(8);
  ASSERT_TRUE(f.cluster.bootstrap(6, seconds(5)));
  f.cluster.node(3).publish(endpoint("b", "ep", "10.4.0.1"));
  f.cluster.node(4).publish(endpoint("b", "watch", "10.4.0.2"));
  ASSERT_TRUE(f.net.runUntilTrue([&] { return recordsConverged(f.cluster, "b", 2); }, f.at(seconds(3))));
  f.cluster.crash(3);
  ASSERT_TRUE(f.net.runUntilTrue([&] { return f.cluster.countSeeing("node-3", {MemberState::kDead}) == 5; },
                                 f.at(seconds(20))));
  const uint64_t deadInc = f.cluster.node(0).membership().find("node-3")->incarnation;
  f.cluster.restart(3);
  f.cluster.node(3).publish(endpoint("b", "ep", "10.4.0.99"));  // same endpoint, new address
  ASSERT_TRUE(f.net.runUntilTrue([&] { return f.cluster.membershipConverged(); }, f.at(seconds(10))));
  EXPECT_GT(f.cluster.node(0).membership().find("node-3")->incarnation, deadInc);
  ASSERT_TRUE(f.net.runUntilTrue(
      [&] {
        const EndpointRecord* r = f.cluster.node(4).findEndpoint("b", "ep");
        return r && r->ipv4 == "10.4.0.99";
      },
      f.at(seconds(5))));
}

TEST(Sim, GracefulLeaveIsNotADeath) {
  Fixture f(9);
  ASSERT_TRUE(f.cluster.bootstrap(8, seconds(5)));
  f.cluster.leave(2);
  ASSERT_TRUE(f.net.runUntilTrue([&] { return f.cluster.countSeeing("node-2", {MemberState::kLeft}) == 7; },
                                 f.at(seconds(3))));
  uint64_t dead = 0;
  for (size_t i = 0; i < 8; ++i)
    if (f.cluster.up(i)) dead += f.cluster.node(i).membership().stats().deadDeclared;
  EXPECT_EQ(dead, 0u);
}

TEST(Sim, BriefIsolationIsRefutedNotDeclaredDead) {
  Fixture f(10);
  ASSERT_TRUE(f.cluster.bootstrap(10, seconds(5)));
  f.net.setPartition(f.cluster.addr(4), 1);
  ASSERT_TRUE(f.net.runUntilTrue([&] { return f.cluster.countSeeing("node-4", {MemberState::kSuspect}) > 0; },
                                 f.at(seconds(10))));
  f.net.healPartitions();
  ASSERT_TRUE(f.net.runUntilTrue([&] { return f.cluster.membershipConverged(); }, f.at(seconds(10))));
  EXPECT_GT(f.cluster.node(4).membership().incarnation(), 0u) << "refuted by raising its incarnation";
  EXPECT_GT(f.cluster.node(4).membership().stats().refutations, 0u);
  uint64_t dead = 0;
  for (size_t i = 0; i < 10; ++i) dead += f.cluster.node(i).membership().stats().deadDeclared;
  EXPECT_EQ(dead, 0u);
}

TEST(Sim, ReplayedAndForgedPacketsAreDroppedAndCounted) {
  Fixture f(11);
  ASSERT_TRUE(f.cluster.bootstrap(3, seconds(5)));
  std::vector<std::pair<std::string, std::vector<uint8_t>>> captured;
  f.net.tap = [&](const std::string& from, const std::string& to, const std::vector<uint8_t>& d,
                  bool stream) {
    if (!stream && to == f.cluster.addr(1) && captured.size() < 20) captured.emplace_back(from, d);
  };
  f.net.runFor(seconds(3));
  f.net.tap = nullptr;
  ASSERT_FALSE(captured.empty());
  const uint64_t replayedBefore = f.cluster.node(1).stats().replayed;
  for (auto& [from, d] : captured) f.net.inject(from, f.cluster.addr(1), d, false);
  auto forged = captured.front().second;
  forged[forged.size() / 2] ^= 0x40;
  f.net.inject(captured.front().first, f.cluster.addr(1), forged, false);
  f.net.runFor(milliseconds(100));
  EXPECT_EQ(f.cluster.node(1).stats().replayed - replayedBefore, captured.size());
  EXPECT_EQ(f.cluster.node(1).stats().forged, 1u);
}

// Captures datagrams sent from node `from` to node `to` while `d` passes.
std::vector<std::vector<uint8_t>> captureDatagrams(Fixture& f, size_t from, size_t to, Duration d) {
  std::vector<std::vector<uint8_t>> captured;
  f.net.tap = [&](const std::string& src, const std::string& dst, const std::vector<uint8_t>& data,
                  bool stream) {
    if (!stream && src == f.cluster.addr(from) && dst == f.cluster.addr(to)) captured.push_back(data);
  };
  f.net.runFor(d);
  f.net.tap = nullptr;
  return captured;
}

// Delivers `captured` to node `to` as if node `from` sent them again; returns
// how many `to` refused as replays.
uint64_t replayInto(Fixture& f, size_t from, size_t to, const std::vector<std::vector<uint8_t>>& captured) {
  const uint64_t before = f.cluster.node(to).stats().replayed;
  for (const auto& d : captured) f.net.inject(f.cluster.addr(from), f.cluster.addr(to), d, false);
  f.net.runFor(milliseconds(100));
  return f.cluster.node(to).stats().replayed - before;
}

TEST(Sim, DatagramsCapturedBetweenTwoNodesAreRefusedByAThird) {
  Fixture f(21);
  ASSERT_TRUE(f.cluster.bootstrap(3, seconds(5)));
  auto captured = captureDatagrams(f, 0, 1, seconds(3));
  ASSERT_GE(captured.size(), 5u);
  EXPECT_EQ(replayInto(f, 0, 2, captured), captured.size()) << "every one refused";
}

TEST(Sim, DatagramsCapturedBeforeAReceiverRestartAreRefusedAfterIt) {
  Fixture f(22);
  ASSERT_TRUE(f.cluster.bootstrap(3, seconds(5)));
  auto captured = captureDatagrams(f, 0, 1, seconds(3));
  ASSERT_GE(captured.size(), 5u);
  f.cluster.restart(1);
  ASSERT_TRUE(f.net.runUntilTrue([&] { return f.cluster.membershipConverged(); }, f.at(seconds(10))));
  f.net.runFor(seconds(2));  // every peer has heard the new boot by now
  // The restarted node tells the (supposed) sender its new epoch with an
  // empty envelope, once per kStaleSessionAnswerInterval however many come.
  const size_t emptyEnvelope = sealOverhead(testConfig().label.size()) + envelopeHeaderSize(f.cluster.id(1));
  size_t answers = 0;
  f.net.tap = [&](const std::string& src, const std::string& dst, const std::vector<uint8_t>& data, bool) {
    if (src == f.cluster.addr(1) && dst == f.cluster.addr(0) && data.size() == emptyEnvelope) ++answers;
  };
  EXPECT_EQ(replayInto(f, 0, 1, captured), captured.size()) << "every one refused";
  f.net.tap = nullptr;
  EXPECT_EQ(answers, 1u);
}

TEST(Sim, RestartedReceiversAndSendersAreHeardAtOnceWithoutFalseDeaths) {
  Fixture f(23);
  ASSERT_TRUE(f.cluster.bootstrap(5, seconds(5)));
  f.cluster.restart(1);  // peers still seal for its previous boot until they hear it
  f.cluster.restart(3);
  ASSERT_TRUE(f.net.runUntilTrue([&] { return f.cluster.membershipConverged(); }, f.at(seconds(3))));
  f.cluster.node(1).publish(endpoint("blue", "ep1", "10.0.0.2"));
  f.cluster.node(4).publish(endpoint("blue", "ep4", "10.0.0.5"));
  ASSERT_TRUE(f.net.runUntilTrue([&] { return recordsConverged(f.cluster, "blue", 2); }, f.at(seconds(3))));
  f.net.runFor(seconds(20));
  uint64_t dead = 0, suspected = 0;
  for (size_t i = 0; i < 5; ++i) {
    dead += f.cluster.node(i).membership().stats().deadDeclared;
    suspected += f.cluster.countSeeing(f.cluster.id(i), {MemberState::kSuspect, MemberState::kDead});
  }
  EXPECT_EQ(dead, 0u);
  EXPECT_EQ(suspected, 0u);
  EXPECT_TRUE(f.cluster.membershipConverged());
}

// The seed itself crashes, is declared dead, and restarts with no seed of its
// own (as h1 of a cluster whose PEERS name only h1). The others, alone, keep
// re-joining it (weft-gossip does every 2 s); they must not seal those joins
// for its previous boot, which the new one refuses without being able to
// tell a stream's sender.
TEST(Sim, ASeedRestartedAfterItWasDeclaredDeadIsRejoined) {
  Fixture f(29);
  ASSERT_TRUE(f.cluster.bootstrap(2, seconds(5)));
  f.cluster.crash(0);
  ASSERT_TRUE(f.net.runUntilTrue(
      [&] { return f.cluster.countSeeing(f.cluster.id(0), {MemberState::kDead}) == 1; }, f.at(seconds(15))));
  f.net.runFor(seconds(30));  // dead for a while, not yet reaped (60 s)
  f.cluster.restart(0, /*rejoin=*/false);
  bool converged = false;
  for (int tick = 0; tick < 10 && !converged; ++tick) {
    f.cluster.join(1, {0});
    converged = f.net.runUntilTrue([&] { return f.cluster.membershipConverged(); }, f.at(seconds(2)));
  }
  EXPECT_TRUE(converged);
  EXPECT_EQ(f.cluster.countSeeing(f.cluster.id(0), {MemberState::kAlive}), 1u);
}

TEST(Sim, WrongLabelIsCountedSeparately) {
  SimNetwork net(12);
  NodeConfig other = testConfig();
  other.label = "other-cluster";
  SimCluster a(net, testConfig(), Keyring(keyOf(7)), 12);
  ASSERT_TRUE(a.bootstrap(2, seconds(5)));
  auto clock = net.makeClock();
  auto transport = net.makeTransport("192.0.2.1:7947");
  other.id = "stranger";
  other.addr = "192.0.2.1:7947";
  GossipNode stranger(other, Keyring(keyOf(7)), *transport, *clock, 1, 1);
  stranger.start();
  stranger.join({a.addr(0)});
  net.runFor(seconds(2));
  EXPECT_GT(a.node(0).stats().wrongLabel, 0u);
  EXPECT_EQ(a.node(0).membership().find("stranger"), nullptr);
}

TEST(Sim, AntiEntropyRepairsWhatGossipMissed) {
  // Node 2 is cut off while a record is published and the broadcasts run out;
  // only the periodic digest exchange can bring it the record afterwards.
  NodeConfig cfg = testConfig();
  cfg.membership.suspicionMult = 20;  // keep everyone alive through the cut
  Fixture f(13, {}, cfg);
  ASSERT_TRUE(f.cluster.bootstrap(4, seconds(5)));
  f.cluster.node(2).publish(endpoint("y", "mine", "10.5.0.2"));
  f.cluster.node(1).publish(endpoint("y", "seed", "10.5.0.1"));
  ASSERT_TRUE(f.net.runUntilTrue([&] { return recordsConverged(f.cluster, "y", 2); }, f.at(seconds(3))));
  f.net.setPartition(f.cluster.addr(2), 1);
  f.cluster.node(0).publish(endpoint("y", "missed", "10.5.0.3"));
  f.net.runFor(seconds(2));
  EXPECT_EQ(f.cluster.node(2).findEndpoint("y", "missed"), nullptr);
  f.net.healPartitions();
  ASSERT_TRUE(f.net.runUntilTrue([&] { return f.cluster.node(2).findEndpoint("y", "missed") != nullptr; },
                                 f.at(seconds(15))));
}

}  // namespace
}  // namespace weft::gossip::sim

namespace weft::gossip::sim {
namespace {

// What weft-gossip runs with: a dead host may only have lost its control
// plane, so its endpoints stay programmed until it is reaped; a host that
// leaves is gone at once.
TEST(Sim, SilentSuspensionKeepsADeadHostsRecordsUntilReaped) {
  NodeConfig cfg = testConfig();
  cfg.reportDeadAsInactive = false;
  Fixture f(31, {}, cfg);
  ASSERT_TRUE(f.cluster.bootstrap(5, seconds(10)));
  f.cluster.node(1).publish(endpoint("n", "dead-ep", "10.2.0.1"));
  f.cluster.node(2).publish(endpoint("n", "left-ep", "10.2.0.2"));
  f.cluster.node(3).publish(endpoint("n", "watcher-ep", "10.2.0.3"));
  ASSERT_TRUE(f.net.runUntilTrue([&] { return recordsConverged(f.cluster, "n", 3); }, f.at(seconds(3))));
  std::vector<std::pair<std::string, bool>> seen;
  f.cluster.node(3).onRecordChange = [&](const EndpointRecord& r, bool active) {
    seen.emplace_back(r.endpoint, active);
  };
  f.cluster.crash(1);
  ASSERT_TRUE(f.net.runUntilTrue([&] { return f.cluster.countSeeing("node-1", {MemberState::kDead}) == 4; },
                                 f.at(seconds(15))));
  f.net.runFor(seconds(2));
  EXPECT_TRUE(seen.empty()) << "a dead host's record was reported inactive";
  f.cluster.leave(2);
  ASSERT_TRUE(f.net.runUntilTrue([&] { return !seen.empty(); }, f.at(seconds(5))));
  EXPECT_EQ(seen.front(), std::make_pair(std::string("left-ep"), false));
  seen.clear();
  f.net.runFor(seconds(65));  // reapAfter is 60 s here
  ASSERT_EQ(std::count(seen.begin(), seen.end(), std::make_pair(std::string("dead-ep"), false)), 1);
}

}  // namespace
}  // namespace weft::gossip::sim

namespace weft::gossip::sim {
namespace {

// While a host is silently suspended its peers' records still change; when it
// is alive again the consumer hears what was added and what went.
TEST(Sim, SilentSuspensionCatchesUpWhenTheHostReturns) {
  NodeConfig cfg = testConfig();
  cfg.reportDeadAsInactive = false;
  LinkModel link;
  Fixture f(32, link, cfg);
  ASSERT_TRUE(f.cluster.bootstrap(3, seconds(10)));
  f.cluster.node(0).publish(endpoint("n", "a", "10.3.0.1"));
  f.cluster.node(1).publish(endpoint("n", "b", "10.3.0.2"));
  f.cluster.node(2).publish(endpoint("n", "c", "10.3.0.3"));
  ASSERT_TRUE(f.net.runUntilTrue([&] { return recordsConverged(f.cluster, "n", 3); }, f.at(seconds(3))));
  std::map<std::string, bool> view;  // node 2's consumer view
  for (const auto& r : f.cluster.node(2).endpoints("n")) view[r.endpoint] = true;
  f.cluster.node(2).onRecordChange = [&](const EndpointRecord& r, bool active) { view[r.endpoint] = active; };
  f.net.setPartition(f.cluster.addr(2), 1);
  ASSERT_TRUE(f.net.runUntilTrue(
      [&] {
        const auto* m = f.cluster.node(2).membership().find("node-0");
        return m && m->state == MemberState::kDead;
      },
      f.at(seconds(15))));
  f.cluster.node(0).publish(endpoint("n", "a2", "10.3.0.4"));  // added meanwhile
  f.cluster.node(1).withdraw("n", "b");                        // removed meanwhile
  f.net.runFor(seconds(1));
  EXPECT_TRUE(view["b"]) << "kept while its host is dead";
  f.net.healPartitions();
  ASSERT_TRUE(f.net.runUntilTrue([&] { return view["a2"] && !view["b"]; }, f.at(seconds(15))));
  EXPECT_TRUE(view["a"]);
}

}  // namespace
}  // namespace weft::gossip::sim
