#pragma once
// SWIM membership with Lifeguard's refinements, over abstract time and an
// abstract packet path (MembershipHost). No sockets here.
//
// * Probing: every (scaled) probe interval, ping the next member of a shuffled
//   round-robin list; no ack within the probe timeout -> ask k members to ping
//   it (indirect probe, with nacks); no ack by the end of the interval ->
//   suspect it.
// * Lifeguard: a local health multiplier (LHM) scales interval and timeouts
//   (failed probes and missing nacks raise it, acks lower it, having to refute
//   raises it); suspicion timeouts start at max and shrink towards min as
//   independent confirmations arrive:
//     min = mult * log10(max(N,1)) * interval, max = maxMult * min,
//     timeout(c) = max - (max - min) * log(c + 1) / log(k + 1)
//   and a probe sent to a suspect carries the suspicion (buddy system) so it
//   can refute at once.
// * Incarnations: a node refutes suspicion/death of itself by raising its
//   incarnation; a restarted node learns its old incarnation at sync and
//   rejoins above it. Dead and left members are reaped after `reapAfter`.

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gossip/clock.h"
#include "gossip/messages.h"

namespace weft::gossip {

struct MembershipConfig {
  Duration probeInterval = std::chrono::milliseconds(250);
  Duration probeTimeout = std::chrono::milliseconds(100);
  int indirectChecks = 3;
  int suspicionMult = 4;
  int suspicionMaxTimeoutMult = 6;
  int awarenessMax = 8;
  Duration reapAfter = std::chrono::hours(1);
  // Dead members are still gossiped to for this long so a partitioned or
  // falsely-declared node can learn of it and refute.
  Duration gossipToDeadTime = std::chrono::seconds(30);
};

struct Member {
  std::string id;
  std::string addr;
  uint64_t incarnation = 0;
  MemberState state = MemberState::kAlive;
  Time stateSince{0};
};

class MembershipHost {
 public:
  virtual ~MembershipHost() = default;
  // Sends messages in one datagram to `addr` (node `nodeId`, may be empty).
  virtual void sendMessages(const std::string& addr, const std::string& nodeId,
                            std::vector<Message> msgs) = 0;
  // Disseminates a membership message (piggyback + eager push).
  virtual void broadcastMembership(const std::string& node, const Message& m) = 0;
  virtual void memberChanged(const Member& m, MemberState previous, bool isNew) = 0;
  virtual void memberReaped(const Member& m) = 0;
};

struct MembershipStats {
  uint64_t probes = 0;
  uint64_t probeFailures = 0;  // no ack, direct or indirect
  uint64_t suspicionsRaised = 0;
  uint64_t refutations = 0;
  uint64_t deadDeclared = 0;   // by this node
  uint64_t deathsAverted = 0;  // final check before declaring dead was acked
};

class Membership {
 public:
  Membership(std::string selfId, std::string selfAddr, MembershipConfig cfg, Clock& clock,
             std::mt19937_64& rng, MembershipHost& host);
  ~Membership();
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  void start(uint64_t incarnation);
  void stop();
  // Announces the leave and stops probing.
  void leave();

  // Probe traffic.
  void handlePing(const std::string& fromAddr, const Ping& p);
  void handleIndirectPing(const std::string& fromAddr, const IndirectPing& p);
  void handleAck(const Ack& a);
  void handleNack(const Nack& n);
  // State gossip. Return true when the message changed local state (and was
  // re-broadcast).
  bool handleAlive(const Alive& a);
  bool handleSuspect(const Suspect& s);
  bool handleDead(const Dead& d);
  // Merges a peer's full member list (sync). With rebroadcast = false the
  // changes are applied without being gossiped on (a joiner pulling state the
  // cluster already has); refutations about this node are always sent.
  void mergeRemote(const std::vector<MemberEntry>& entries, bool rebroadcast = true);

  std::vector<MemberEntry> snapshot() const;
  // Hash of the (id, incarnation) of live members including self; equal
  // hashes mean equal live views.
  uint64_t viewHash() const;
  const Member* find(const std::string& id) const;
  const std::map<std::string, Member>& members() const { return members_; }
  // Alive or suspect members other than self.
  std::vector<const Member*> liveMembers() const;
  // Live members plus members dead for less than gossipToDeadTime.
  std::vector<const Member*> gossipCandidates() const;
  size_t liveCount() const { return liveOthers_ + 1; }  // including self
  int health() const { return awareness_; }
  uint64_t incarnation() const { return incarnation_; }
  const std::string& selfId() const { return selfId_; }
  const std::string& selfAddr() const { return selfAddr_; }
  const MembershipStats& stats() const { return stats_; }
  bool running() const { return running_; }

  Duration scaled(Duration d) const { return d * (awareness_ + 1); }
  Duration suspicionTimeout(size_t confirmations) const;

 private:
  struct Suspicion {
    Time start{0};
    std::set<std::string> confirmers;  // independent suspecters after the first
    std::string first;
    Clock::TimerId timer = 0;
    // When the timeout runs out we ping the suspect once more (carrying the
    // suspicion) before declaring it dead; an ack restarts the suspicion.
    bool finalCheck = false;
    bool finalAcked = false;
  };
  struct Forward {
    std::string requesterAddr;
    uint32_t requesterSeq = 0;
    Clock::TimerId timer = 0;
  };
  struct Probe {
    uint32_t seq = 0;
    std::string target;
    bool active = false;
    bool acked = false;
    int expectedNacks = 0;
    int nacks = 0;
    Clock::TimerId timer = 0;
  };

  void probeTick();
  void probeTimeout(uint32_t seq);
  void probeEnd(uint32_t seq);
  const Member* nextProbeTarget();
  void adjustAwareness(int delta);
  void refute(uint64_t seenIncarnation, const std::string& accuser);
  void startSuspicion(const std::string& node, const std::string& from);
  void rescheduleSuspicion(const std::string& node);
  void suspicionExpired(const std::string& node);
  void finishFinalCheck(const std::string& node);
  void declareDead(const std::string& node);
  void setState(Member& m, MemberState s);
  void reapTick();
  void rebroadcast(const std::string& node, const Message& m);
  void correctStale(const std::string& from, const std::string& node);
  uint32_t nextSeq() { return ++seq_; }

  std::string selfId_;
  std::string selfAddr_;
  MembershipConfig cfg_;
  Clock& clock_;
  std::mt19937_64& rng_;
  MembershipHost& host_;

  bool running_ = false;
  bool quiet_ = false;  // inside a non-rebroadcasting mergeRemote
  uint64_t incarnation_ = 0;
  int awareness_ = 0;
  uint32_t seq_ = 0;
  std::map<std::string, Member> members_;  // excludes self
  size_t liveOthers_ = 0;                  // members_ alive or suspect
  std::vector<std::string> probeOrder_;
  size_t probeIndex_ = 0;
  Probe probe_;
  std::map<uint32_t, Forward> forwards_;
  std::map<uint32_t, std::string> finalChecks_;  // ping seq -> suspect
  std::map<std::string, Suspicion> suspicions_;
  Clock::TimerId probeTimer_ = 0;
  Clock::TimerId reapTimer_ = 0;
  MembershipStats stats_;
};

}  // namespace weft::gossip
