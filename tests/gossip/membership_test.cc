// Membership state machine against a recording host and a virtual clock.
#include "gossip/membership.h"

#include <gtest/gtest.h>

#include <cmath>

#include "gossip/sim/sim_network.h"

namespace weft::gossip {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct Sent {
  std::string addr, node;
  std::vector<Message> msgs;
};

class RecordingHost : public MembershipHost {
 public:
  void sendMessages(const std::string& addr, const std::string& nodeId, std::vector<Message> msgs) override {
    sent.push_back({addr, nodeId, std::move(msgs)});
    if (onSend) onSend(sent.back());
  }
  void broadcastMembership(const std::string&, const Message& m) override { broadcasts.push_back(m); }
  void memberChanged(const Member& m, MemberState prev, bool isNew) override {
    changes.push_back(m.id + ":" + describe(prev) + "->" + describe(m.state) + (isNew ? "(new)" : ""));
  }
  void memberReaped(const Member& m) override { reaped.push_back(m.id); }

  template <class T>
  size_t count() const {
    size_t n = 0;
    for (const auto& s : sent)
      for (const auto& m : s.msgs) n += std::holds_alternative<T>(m) ? 1 : 0;
    return n;
  }
  template <class T>
  size_t broadcastCount() const {
    size_t n = 0;
    for (const auto& m : broadcasts) n += std::holds_alternative<T>(m) ? 1 : 0;
    return n;
  }

  std::vector<Sent> sent;
  std::vector<Message> broadcasts;
  std::vector<std::string> changes;
  std::vector<std::string> reaped;
  std::function<void(const Sent&)> onSend;
};

struct Harness {
  explicit Harness(MembershipConfig cfg = {})
      : net(1), clock(net.makeClock()), rng(5), m("self", "self:1", cfg, *clock, rng, host) {}
  void addMembers(int n) {
    for (int i = 0; i < n; ++i)
      m.handleAlive(Alive{"m" + std::to_string(i), "m" + std::to_string(i) + ":1", 1});
  }
  sim::SimNetwork net;
  std::unique_ptr<Clock> clock;
  std::mt19937_64 rng;
  RecordingHost host;
  Membership m;
};

TEST(Membership, SuspicionTimeoutFollowsLifeguardFormula) {
  MembershipConfig cfg;
  cfg.probeInterval = milliseconds(200);
  cfg.suspicionMult = 4;
  cfg.suspicionMaxTimeoutMult = 6;
  Harness h(cfg);
  h.addMembers(99);                                  // N = 100 with self
  const double minMs = 4 * std::log10(100.0) * 200;  // 1600
  const double maxMs = 6 * minMs;
  auto msOf = [](Duration d) { return static_cast<double>(d.count()) / 1000.0; };
  EXPECT_NEAR(msOf(h.m.suspicionTimeout(0)), maxMs, 1);
  const double one = maxMs - (maxMs - minMs) * std::log(2.0) / std::log(3.0);
  EXPECT_NEAR(msOf(h.m.suspicionTimeout(1)), one, 1);
  EXPECT_NEAR(msOf(h.m.suspicionTimeout(2)), minMs, 1);
  EXPECT_NEAR(msOf(h.m.suspicionTimeout(10)), minMs, 1) << "never below min";
}

TEST(Membership, NewMembersAreAnnouncedAndRebroadcast) {
  Harness h;
  EXPECT_TRUE(h.m.handleAlive(Alive{"a", "a:1", 3}));
  EXPECT_FALSE(h.m.handleAlive(Alive{"a", "a:1", 3})) << "same incarnation is old news";
  EXPECT_FALSE(h.m.handleAlive(Alive{"a", "a:1", 2}));
  EXPECT_EQ(h.host.broadcastCount<Alive>(), 1u);
  EXPECT_EQ(h.host.changes, (std::vector<std::string>{"a:alive->alive(new)"}));
}

TEST(Membership, IncarnationRules) {
  Harness h;
  h.m.handleAlive(Alive{"a", "a:1", 5});
  EXPECT_FALSE(h.m.handleSuspect(Suspect{"a", 4, "x"})) << "stale suspicion";
  EXPECT_TRUE(h.m.handleSuspect(Suspect{"a", 5, "x"}));
  EXPECT_EQ(h.m.find("a")->state, MemberState::kSuspect);
  EXPECT_FALSE(h.m.handleAlive(Alive{"a", "a:1", 5})) << "alive must out-number the suspicion";
  EXPECT_TRUE(h.m.handleAlive(Alive{"a", "a:1", 6}));
  EXPECT_EQ(h.m.find("a")->state, MemberState::kAlive);
  EXPECT_FALSE(h.m.handleDead(Dead{"a", 5, "x"}));
  EXPECT_TRUE(h.m.handleDead(Dead{"a", 6, "x"}));
  EXPECT_EQ(h.m.find("a")->state, MemberState::kDead);
  EXPECT_FALSE(h.m.handleSuspect(Suspect{"a", 7, "x"})) << "dead stays dead until it rejoins";
  EXPECT_TRUE(h.m.handleAlive(Alive{"a", "a:2", 7}));
  EXPECT_EQ(h.m.find("a")->addr, "a:2");
  EXPECT_TRUE(h.m.handleDead(Dead{"a", 7, "a"}));
  EXPECT_EQ(h.m.find("a")->state, MemberState::kLeft) << "dead from itself is a leave";
}

TEST(Membership, RefutesSuspicionAndDeathOfItself) {
  Harness h;
  h.m.start(3);
  h.m.handleSuspect(Suspect{"self", 3, "x"});
  EXPECT_EQ(h.m.incarnation(), 4u);
  ASSERT_EQ(h.host.broadcastCount<Alive>(), 1u);
  EXPECT_EQ(std::get<Alive>(h.host.broadcasts.back()).incarnation, 4u);
  h.m.handleSuspect(Suspect{"self", 2, "x"});
  EXPECT_EQ(h.m.incarnation(), 4u) << "older suspicion needs no refutation";
  h.m.handleDead(Dead{"self", 9, "x"});
  EXPECT_EQ(h.m.incarnation(), 10u);
  EXPECT_EQ(h.m.health(), 2) << "each refutation raises the local health multiplier";
  // A sync showing this node dead at a higher incarnation (previous life).
  h.m.mergeRemote({MemberEntry{"self", "self:1", 20, MemberState::kDead}});
  EXPECT_EQ(h.m.incarnation(), 21u);
}

TEST(Membership, AnsweringPingsAndRelayingIndirectProbes) {
  Harness h;
  h.m.start(0);
  h.m.handlePing("p:1", Ping{42, "self"});
  ASSERT_EQ(h.host.sent.size(), 1u);
  EXPECT_EQ(h.host.sent[0].addr, "p:1");
  EXPECT_TRUE(h.host.sent[0].msgs[0] == Message(Ack{42}));
  h.m.handlePing("p:1", Ping{43, "someone-else"});
  EXPECT_EQ(h.host.sent.size(), 1u) << "pings for another node are ignored";

  // Indirect probe that succeeds: the ack is relayed with the requester's seq.
  h.m.handleIndirectPing("req:1", IndirectPing{7, "t", "t:1"});
  ASSERT_EQ(h.host.sent.size(), 2u);
  EXPECT_EQ(h.host.sent[1].addr, "t:1");
  const uint32_t fwdSeq = std::get<Ping>(h.host.sent[1].msgs[0]).seq;
  h.m.handleAck(Ack{fwdSeq});
  ASSERT_EQ(h.host.sent.size(), 3u);
  EXPECT_EQ(h.host.sent[2].addr, "req:1");
  EXPECT_TRUE(h.host.sent[2].msgs[0] == Message(Ack{7}));

  // One that fails: a nack after the probe timeout.
  h.m.handleIndirectPing("req:1", IndirectPing{8, "t", "t:1"});
  h.net.runFor(seconds(1));
  EXPECT_TRUE(h.host.sent.back().msgs[0] == Message(Nack{8}));
}

TEST(Membership, FailedProbesGoIndirectThenSuspectAndRaiseHealthScore) {
  MembershipConfig cfg;
  cfg.probeInterval = milliseconds(200);
  cfg.probeTimeout = milliseconds(50);
  cfg.indirectChecks = 2;
  Harness h(cfg);
  h.addMembers(4);
  h.m.start(0);
  h.net.runFor(milliseconds(420));  // two probes, nobody answers
  EXPECT_GE(h.host.count<Ping>(), 2u);
  EXPECT_GE(h.host.count<IndirectPing>(), 2u);
  EXPECT_GE(h.m.stats().probeFailures, 1u);
  EXPECT_GT(h.m.health(), 0);
  EXPECT_GE(h.host.broadcastCount<Suspect>(), 1u);
  h.net.runFor(seconds(30));
  EXPECT_EQ(h.m.health(), cfg.awarenessMax - 1) << "capped";
  EXPECT_GT(h.m.scaled(cfg.probeInterval), cfg.probeInterval * 7);
}

TEST(Membership, AcksKeepEveryoneAliveAndLowerHealthScore) {
  MembershipConfig cfg;
  cfg.probeInterval = milliseconds(200);
  Harness h(cfg);
  h.addMembers(5);
  h.m.start(0);
  bool answer = false;
  h.host.onSend = [&](const Sent& s) {
    if (!answer) return;
    for (const auto& msg : s.msgs)
      if (auto* p = std::get_if<Ping>(&msg)) h.m.handleAck(Ack{p->seq});
  };
  h.net.runFor(seconds(2));  // unanswered: score rises
  const int raised = h.m.health();
  ASSERT_GT(raised, 0);
  answer = true;
  h.net.runFor(seconds(3));  // let the probe in flight finish
  // Those suspected refute (as real members would).
  for (int i = 0; i < 5; ++i)
    h.m.handleAlive(Alive{"m" + std::to_string(i), "m" + std::to_string(i) + ":1", 10});
  h.net.runFor(seconds(20));
  EXPECT_EQ(h.m.health(), 0);
  for (const Member* mem : h.m.liveMembers()) EXPECT_EQ(mem->state, MemberState::kAlive);
  EXPECT_EQ(h.m.liveCount(), 6u);
}

TEST(Membership, ProbeToASuspectCarriesTheSuspicion) {
  Harness h;
  h.addMembers(1);
  h.m.handleSuspect(Suspect{"m0", 1, "other"});
  h.m.start(0);
  h.net.runFor(milliseconds(300));
  bool buddy = false;
  for (const auto& s : h.host.sent) {
    if (s.node != "m0") continue;
    bool ping = false, sus = false;
    for (const auto& msg : s.msgs) {
      ping |= std::holds_alternative<Ping>(msg);
      sus |= std::holds_alternative<Suspect>(msg);
    }
    buddy |= ping && sus;
  }
  EXPECT_TRUE(buddy);
}

TEST(Membership, SuspicionExpiresIntoDeathAndConfirmationsSpeedItUp) {
  MembershipConfig cfg;
  cfg.probeInterval = milliseconds(200);
  Harness slow(cfg), fast(cfg);
  for (Harness* h : {&slow, &fast}) {
    h->addMembers(9);
    h->m.handleSuspect(Suspect{"m0", 1, "a"});
  }
  fast.m.handleSuspect(Suspect{"m0", 1, "b"});
  fast.m.handleSuspect(Suspect{"m0", 1, "c"});
  fast.m.handleSuspect(Suspect{"m0", 1, "c"});  // repeated confirmer counts once
  const Duration minT = fast.m.suspicionTimeout(2);
  fast.net.runFor(minT - milliseconds(1));
  EXPECT_EQ(fast.m.find("m0")->state, MemberState::kSuspect);
  fast.net.runFor(milliseconds(2));
  EXPECT_EQ(fast.m.find("m0")->state, MemberState::kDead);
  EXPECT_EQ(fast.m.stats().deadDeclared, 1u);
  slow.net.runFor(minT + milliseconds(1));
  EXPECT_EQ(slow.m.find("m0")->state, MemberState::kSuspect) << "without confirmations it waits longer";
  slow.net.runFor(slow.m.suspicionTimeout(0));
  EXPECT_EQ(slow.m.find("m0")->state, MemberState::kDead);
}

TEST(Membership, FinalCheckBeforeDeclaringDead) {
  MembershipConfig cfg;
  cfg.probeInterval = milliseconds(200);
  cfg.probeTimeout = milliseconds(50);
  for (bool answers : {false, true}) {
    Harness h(cfg);
    h.addMembers(1);  // k = 0: the timeout is fixed at min, confirmations or not
    h.host.onSend = [&](const Sent& s) {
      if (!answers || s.node != "m0") return;
      for (const auto& msg : s.msgs)
        if (auto* p = std::get_if<Ping>(&msg)) h.m.handleAck(Ack{p->seq});
    };
    h.m.start(0);
    h.m.handleSuspect(Suspect{"m0", 1, "a"});
    const Duration timeout = h.m.suspicionTimeout(0);
    h.net.runFor(timeout + milliseconds(1));
    // The last-chance ping carries the suspicion, so m0 can refute.
    bool carried = false;
    for (const auto& s : h.host.sent)
      if (s.node == "m0" && s.msgs.size() == 2 && std::holds_alternative<Suspect>(s.msgs[1])) carried = true;
    EXPECT_TRUE(carried);
    EXPECT_EQ(h.m.find("m0")->state, MemberState::kSuspect) << "not before the final check is over";
    h.net.runFor(h.m.scaled(cfg.probeTimeout) * 2);
    if (answers) {
      EXPECT_EQ(h.m.find("m0")->state, MemberState::kSuspect) << "it answered: suspicion restarts";
      EXPECT_EQ(h.m.stats().deathsAverted, 1u);
      EXPECT_EQ(h.m.stats().deadDeclared, 0u);
      h.m.handleAlive(Alive{"m0", "m0:1", 2});
      EXPECT_EQ(h.m.find("m0")->state, MemberState::kAlive);
    } else {
      EXPECT_EQ(h.m.find("m0")->state, MemberState::kDead);
      EXPECT_EQ(h.m.stats().deadDeclared, 1u);
    }
  }
}

TEST(Membership, StaleAccusationsAreCorrectedFirstHand) {
  Harness h;
  h.m.start(5);
  h.addMembers(2);
  h.m.handleAlive(Alive{"m1", "m1:1", 9});
  h.host.sent.clear();
  h.m.handleSuspect(Suspect{"self", 3, "m0"});  // m0 missed our refutations
  ASSERT_EQ(h.host.sent.size(), 1u);
  EXPECT_EQ(h.host.sent[0].node, "m0");
  EXPECT_TRUE(h.host.sent[0].msgs[0] == Message(Alive{"self", "self:1", 5}));
  h.m.handleSuspect(Suspect{"m1", 4, "m0"});  // about another member
  ASSERT_EQ(h.host.sent.size(), 2u);
  EXPECT_TRUE(h.host.sent[1].msgs[0] == Message(Alive{"m1", "m1:1", 9}));
  EXPECT_EQ(h.m.incarnation(), 5u);
}

TEST(Membership, DeadMembersAreReaped) {
  MembershipConfig cfg;
  cfg.reapAfter = seconds(10);
  Harness h(cfg);
  h.addMembers(2);
  h.host.onSend = [&](const Sent& s) {  // m1 answers its pings
    for (const auto& msg : s.msgs)
      if (auto* p = std::get_if<Ping>(&msg)) h.m.handleAck(Ack{p->seq});
  };
  h.m.start(0);
  h.m.handleDead(Dead{"m0", 1, "x"});
  h.net.runFor(seconds(5));
  EXPECT_NE(h.m.find("m0"), nullptr);
  h.net.runFor(seconds(7));
  EXPECT_EQ(h.m.find("m0"), nullptr);
  EXPECT_EQ(h.host.reaped, (std::vector<std::string>{"m0"}));
}

TEST(Membership, LeaveAnnouncesAndStopsProbing) {
  Harness h;
  h.addMembers(3);
  h.m.start(2);
  h.m.leave();
  ASSERT_FALSE(h.host.broadcasts.empty());
  EXPECT_TRUE(h.host.broadcasts.back() == Message(Dead{"self", 2, "self"}));
  const size_t before = h.host.count<Ping>();
  h.net.runFor(seconds(2));
  EXPECT_EQ(h.host.count<Ping>(), before);
}

}  // namespace
}  // namespace weft::gossip
