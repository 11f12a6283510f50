#include "gossip/membership.h"

#include <algorithm>
#include <cmath>

#include "common/log.h"
#include "gossip/merge.h"

namespace weft::gossip {

Membership::Membership(std::string selfId, std::string selfAddr, MembershipConfig cfg, Clock& clock,
                       std::mt19937_64& rng, MembershipHost& host)
    : selfId_(std::move(selfId)),
      selfAddr_(std::move(selfAddr)),
      cfg_(cfg),
      clock_(clock),
      rng_(rng),
      host_(host) {}

Membership::~Membership() { stop(); }

void Membership::start(uint64_t incarnation) {
  incarnation_ = incarnation;
  running_ = true;
  // Random phase so nodes started together do not probe in lock-step.
  std::uniform_int_distribution<int64_t> phase(0, cfg_.probeInterval.count());
  probeTimer_ = clock_.schedule(Duration(phase(rng_)), [this] { probeTick(); });
  reapTimer_ = clock_.schedule(std::chrono::seconds(1), [this] { reapTick(); });
}

void Membership::stop() {
  running_ = false;
  clock_.cancel(probeTimer_);
  clock_.cancel(reapTimer_);
  clock_.cancel(probe_.timer);
  probe_.active = false;
  for (auto& [seq, f] : forwards_) clock_.cancel(f.timer);
  forwards_.clear();
  for (auto& [id, s] : suspicions_) clock_.cancel(s.timer);
  suspicions_.clear();
  finalChecks_.clear();
}

void Membership::leave() {
  host_.broadcastMembership(selfId_, Dead{selfId_, incarnation_, selfId_});
  running_ = false;
  clock_.cancel(probeTimer_);
  clock_.cancel(probe_.timer);
  probe_.active = false;
}

Duration Membership::suspicionTimeout(size_t confirmations) const {
  const double n = static_cast<double>(std::max<size_t>(liveCount(), 1));
  const double nodeScale = std::max(1.0, std::log10(n));
  const double minUs = cfg_.suspicionMult * nodeScale * static_cast<double>(cfg_.probeInterval.count());
  const double maxUs = cfg_.suspicionMaxTimeoutMult * minUs;
  int k = cfg_.suspicionMult - 2;
  if (liveCount() < static_cast<size_t>(k) + 2) k = 0;
  if (k <= 0) return Duration(static_cast<int64_t>(minUs));
  const double frac = std::log(static_cast<double>(confirmations) + 1.0) / std::log(k + 1.0);
  const double t = std::max(minUs, maxUs - (maxUs - minUs) * frac);
  return Duration(static_cast<int64_t>(t));
}

void Membership::adjustAwareness(int delta) {
  awareness_ = std::clamp(awareness_ + delta, 0, cfg_.awarenessMax - 1);
}

const Member* Membership::nextProbeTarget() {
  for (int pass = 0; pass < 2; ++pass) {
    while (probeIndex_ < probeOrder_.size()) {
      auto it = members_.find(probeOrder_[probeIndex_++]);
      if (it != members_.end() &&
          (it->second.state == MemberState::kAlive || it->second.state == MemberState::kSuspect))
        return &it->second;
    }
    probeOrder_.clear();
    for (const auto& [id, m] : members_)
      if (m.state == MemberState::kAlive || m.state == MemberState::kSuspect) probeOrder_.push_back(id);
    std::shuffle(probeOrder_.begin(), probeOrder_.end(), rng_);
    probeIndex_ = 0;
  }
  return nullptr;
}

void Membership::probeTick() {
  if (!running_) return;
  probeTimer_ = clock_.schedule(scaled(cfg_.probeInterval), [this] { probeTick(); });
  if (probe_.active) probeEnd(probe_.seq);  // a slow probe is judged now
  const Member* target = nextProbeTarget();
  if (!target) return;
  ++stats_.probes;
  probe_ = Probe{nextSeq(), target->id, true, false, 0, 0, 0};
  std::vector<Message> msgs{Ping{probe_.seq, target->id}};
  if (target->state == MemberState::kSuspect)  // buddy system
    msgs.push_back(Suspect{target->id, target->incarnation, selfId_});
  host_.sendMessages(target->addr, target->id, std::move(msgs));
  const uint32_t seq = probe_.seq;
  probe_.timer = clock_.schedule(scaled(cfg_.probeTimeout), [this, seq] { probeTimeout(seq); });
}

void Membership::probeTimeout(uint32_t seq) {
  if (!probe_.active || probe_.seq != seq || probe_.acked) return;
  auto target = members_.find(probe_.target);
  if (target == members_.end()) {
    probe_.active = false;
    return;
  }
  std::vector<const Member*> helpers;
  for (const Member* m : liveMembers())
    if (m->id != probe_.target && m->state == MemberState::kAlive) helpers.push_back(m);
  std::shuffle(helpers.begin(), helpers.end(), rng_);
  if (helpers.size() > static_cast<size_t>(cfg_.indirectChecks)) helpers.resize(cfg_.indirectChecks);
  for (const Member* h : helpers)
    host_.sendMessages(h->addr, h->id, {IndirectPing{seq, target->second.id, target->second.addr}});
  probe_.expectedNacks = static_cast<int>(helpers.size());
  const Duration rest = scaled(cfg_.probeInterval) - scaled(cfg_.probeTimeout);
  probe_.timer = clock_.schedule(std::max(rest, Duration(1)), [this, seq] { probeEnd(seq); });
}

void Membership::probeEnd(uint32_t seq) {
  if (!probe_.active || probe_.seq != seq) return;
  probe_.active = false;
  clock_.cancel(probe_.timer);
  if (probe_.acked) return;
  ++stats_.probeFailures;
  // Lifeguard: a failed probe and every missing nack hint that we are the slow one.
  adjustAwareness(1 + std::max(0, probe_.expectedNacks - probe_.nacks));
  auto it = members_.find(probe_.target);
  if (it == members_.end() || it->second.state != MemberState::kAlive) {
    if (it != members_.end() && it->second.state == MemberState::kSuspect)
      handleSuspect(Suspect{it->second.id, it->second.incarnation, selfId_});
    return;
  }
  ++stats_.suspicionsRaised;
  handleSuspect(Suspect{it->second.id, it->second.incarnation, selfId_});
}

void Membership::handlePing(const std::string& fromAddr, const Ping& p) {
  if (p.target != selfId_) return;  // meant for a previous owner of this address
  host_.sendMessages(fromAddr, "", {Ack{p.seq}});
}

void Membership::handleIndirectPing(const std::string& fromAddr, const IndirectPing& p) {
  const uint32_t seq = nextSeq();
  Forward f{fromAddr, p.seq, 0};
  f.timer = clock_.schedule(scaled(cfg_.probeTimeout), [this, seq] {
    auto it = forwards_.find(seq);
    if (it == forwards_.end()) return;
    host_.sendMessages(it->second.requesterAddr, "", {Nack{it->second.requesterSeq}});
    forwards_.erase(it);
  });
  forwards_[seq] = std::move(f);
  host_.sendMessages(p.targetAddr, p.target, {Ping{seq, p.target}});
}

void Membership::handleAck(const Ack& a) {
  auto f = forwards_.find(a.seq);
  if (f != forwards_.end()) {
    clock_.cancel(f->second.timer);
    host_.sendMessages(f->second.requesterAddr, "", {Ack{f->second.requesterSeq}});
    forwards_.erase(f);
    return;
  }
  auto check = finalChecks_.find(a.seq);
  if (check != finalChecks_.end()) {
    auto sus = suspicions_.find(check->second);
    if (sus != suspicions_.end()) sus->second.finalAcked = true;
    finalChecks_.erase(check);
    return;
  }
  if (probe_.active && probe_.seq == a.seq && !probe_.acked) {
    probe_.acked = true;
    adjustAwareness(-1);
  }
}

void Membership::handleNack(const Nack& n) {
  if (probe_.active && probe_.seq == n.seq) ++probe_.nacks;
}

namespace {
bool isLive(MemberState s) { return s == MemberState::kAlive || s == MemberState::kSuspect; }
}  // namespace

void Membership::setState(Member& m, MemberState s) {
  MemberState prev = m.state;
  if (isLive(prev) && !isLive(s)) --liveOthers_;
  if (!isLive(prev) && isLive(s)) ++liveOthers_;
  m.state = s;
  m.stateSince = clock_.now();
  if (s != MemberState::kSuspect) {
    auto sus = suspicions_.find(m.id);
    if (sus != suspicions_.end()) {
      clock_.cancel(sus->second.timer);
      suspicions_.erase(sus);
    }
  }
  if (prev != s) host_.memberChanged(m, prev, false);
}

void Membership::refute(uint64_t seenIncarnation, const std::string& accuser) {
  incarnation_ = std::max(incarnation_, seenIncarnation) + 1;
  LOG_DEBUG("gossip", selfId_ << ": t=" << clock_.now().count() / 1000 << "ms refuting, incarnation now "
                              << incarnation_);
  ++stats_.refutations;
  adjustAwareness(1);
  host_.broadcastMembership(selfId_, Alive{selfId_, selfAddr_, incarnation_});
  // The accuser hears it first-hand as well as by gossip.
  if (const Member* a = find(accuser))
    host_.sendMessages(a->addr, a->id, {Alive{selfId_, selfAddr_, incarnation_}});
}

bool Membership::handleAlive(const Alive& a) {
  if (a.node == selfId_) {
    if (a.incarnation > incarnation_ || (a.incarnation == incarnation_ && a.addr != selfAddr_)) {
      // Someone announces us with a newer incarnation (a previous life of
      // this node): take the lead again.
      if (running_) refute(a.incarnation, "");
    }
    return false;
  }
  auto it = members_.find(a.node);
  if (it == members_.end()) {
    Member m{a.node, a.addr, a.incarnation, MemberState::kAlive, clock_.now()};
    auto& ref = members_[a.node] = m;
    ++liveOthers_;
    probeOrder_.insert(
        probeOrder_.begin() + static_cast<std::ptrdiff_t>(std::uniform_int_distribution<size_t>(
                                  probeIndex_, probeOrder_.size())(rng_)),
        a.node);
    host_.memberChanged(ref, MemberState::kAlive, true);
    rebroadcast(a.node, a);
    return true;
  }
  Member& m = it->second;
  if (a.incarnation <= m.incarnation) return false;
  m.incarnation = a.incarnation;
  m.addr = a.addr;
  setState(m, MemberState::kAlive);
  rebroadcast(a.node, a);
  return true;
}

void Membership::correctStale(const std::string& from, const std::string& node) {
  // The sender suspects (or buries) an older incarnation than we know: it
  // missed a refutation. Tell it directly instead of letting its timer run
  // out on a live node.
  const Member* sender = find(from);
  if (!sender || !running_) return;
  if (node == selfId_) {
    host_.sendMessages(sender->addr, sender->id, {Alive{selfId_, selfAddr_, incarnation_}});
    return;
  }
  const Member* m = find(node);
  if (m && (m->state == MemberState::kAlive || m->state == MemberState::kSuspect))
    host_.sendMessages(sender->addr, sender->id, {Alive{m->id, m->addr, m->incarnation}});
}

bool Membership::handleSuspect(const Suspect& s) {
  if (s.node == selfId_) {
    if (!running_) return false;
    if (s.incarnation >= incarnation_)
      refute(s.incarnation, s.from);
    else
      correctStale(s.from, s.node);
    return false;
  }
  auto it = members_.find(s.node);
  if (it == members_.end()) return false;
  Member& m = it->second;
  if (s.incarnation < m.incarnation) {
    correctStale(s.from, s.node);
    return false;
  }
  if (m.state == MemberState::kDead || m.state == MemberState::kLeft) return false;
  if (m.state == MemberState::kSuspect) {
    auto sus = suspicions_.find(s.node);
    if (sus == suspicions_.end() || s.from == sus->second.first ||
        !sus->second.confirmers.insert(s.from).second)
      return false;
    rescheduleSuspicion(s.node);
    rebroadcast(s.node, s);  // carry the confirmation on
    return true;
  }
  m.incarnation = s.incarnation;
  LOG_DEBUG("gossip", selfId_ << ": t=" << clock_.now().count() / 1000 << "ms suspects " << s.node << " inc "
                              << s.incarnation << " from " << s.from);
  setState(m, MemberState::kSuspect);
  startSuspicion(s.node, s.from);
  rebroadcast(s.node, s);
  return true;
}

void Membership::startSuspicion(const std::string& node, const std::string& from) {
  Suspicion& sus = suspicions_[node];
  sus.start = clock_.now();
  sus.first = from;
  sus.confirmers.clear();
  rescheduleSuspicion(node);
}

void Membership::rescheduleSuspicion(const std::string& node) {
  Suspicion& sus = suspicions_[node];
  clock_.cancel(sus.timer);
  const Time deadline = sus.start + suspicionTimeout(sus.confirmers.size());
  const Duration wait = std::max(Duration(0), deadline - clock_.now());
  sus.timer = clock_.schedule(wait, [this, node] { suspicionExpired(node); });
}

void Membership::suspicionExpired(const std::string& node) {
  auto it = members_.find(node);
  auto sus = suspicions_.find(node);
  if (it == members_.end() || it->second.state != MemberState::kSuspect || sus == suspicions_.end()) return;
  if (!running_ || sus->second.finalCheck) {
    declareDead(node);
    return;
  }
  sus->second.finalCheck = true;
  sus->second.finalAcked = false;
  const uint32_t seq = nextSeq();
  finalChecks_[seq] = node;
  host_.sendMessages(it->second.addr, node,
                     {Ping{seq, node}, Suspect{node, it->second.incarnation, selfId_}});
  // And through k others, as a probe would: one lost datagram must not kill.
  std::vector<const Member*> helpers;
  for (const Member* m : liveMembers())
    if (m->id != node && m->state == MemberState::kAlive) helpers.push_back(m);
  std::shuffle(helpers.begin(), helpers.end(), rng_);
  if (helpers.size() > static_cast<size_t>(cfg_.indirectChecks)) helpers.resize(cfg_.indirectChecks);
  for (const Member* h : helpers)
    host_.sendMessages(h->addr, h->id, {IndirectPing{seq, node, it->second.addr}});
  sus->second.timer = clock_.schedule(scaled(cfg_.probeTimeout) * 2, [this, node, seq] {
    finalChecks_.erase(seq);
    finishFinalCheck(node);
  });
}

void Membership::finishFinalCheck(const std::string& node) {
  auto it = members_.find(node);
  auto sus = suspicions_.find(node);
  if (it == members_.end() || it->second.state != MemberState::kSuspect || sus == suspicions_.end()) return;
  if (!sus->second.finalAcked) {
    declareDead(node);
    return;
  }
  // It answers: not dead. Its refutation is on the way; suspect it afresh.
  ++stats_.deathsAverted;
  sus->second.finalCheck = false;
  sus->second.start = clock_.now();
  sus->second.confirmers.clear();
  rescheduleSuspicion(node);
}

void Membership::declareDead(const std::string& node) {
  auto it = members_.find(node);
  if (it == members_.end() || it->second.state != MemberState::kSuspect) return;
  ++stats_.deadDeclared;
  LOG_INFO("gossip", selfId_ << ": declaring " << node << " dead (incarnation " << it->second.incarnation
                             << ", suspected for " << (clock_.now() - suspicions_[node].start).count() / 1000
                             << " ms, " << suspicions_[node].confirmers.size() << " confirmations)");
  handleDead(Dead{node, it->second.incarnation, selfId_});
}

bool Membership::handleDead(const Dead& d) {
  if (d.node == selfId_) {
    if (!running_ || d.from == selfId_) return false;
    if (d.incarnation >= incarnation_)
      refute(d.incarnation, d.from);
    else
      correctStale(d.from, d.node);
    return false;
  }
  auto it = members_.find(d.node);
  if (it == members_.end()) return false;
  Member& m = it->second;
  if (d.incarnation < m.incarnation) {
    if (d.from != d.node) correctStale(d.from, d.node);
    return false;
  }
  if (m.state == MemberState::kDead || m.state == MemberState::kLeft) return false;
  m.incarnation = d.incarnation;
  setState(m, d.from == d.node ? MemberState::kLeft : MemberState::kDead);
  rebroadcast(d.node, d);
  return true;
}

void Membership::rebroadcast(const std::string& node, const Message& m) {
  if (!quiet_) host_.broadcastMembership(node, m);
}

void Membership::mergeRemote(const std::vector<MemberEntry>& entries, bool rebroadcast) {
  quiet_ = !rebroadcast;
  for (const MemberEntry& e : entries) {
    switch (e.state) {
      case MemberState::kAlive:
        handleAlive(Alive{e.node, e.addr, e.incarnation});
        break;
      case MemberState::kSuspect:
        // Learn the member, then the suspicion (memberlist does the same).
        if (e.node != selfId_ && !members_.count(e.node)) handleAlive(Alive{e.node, e.addr, e.incarnation});
        handleSuspect(Suspect{e.node, e.incarnation, "sync"});
        break;
      case MemberState::kDead:
      case MemberState::kLeft:
        // A dead member we never knew is not worth learning; about ourselves
        // it is a reason to refute (rejoin after restart).
        if (e.node == selfId_) {
          if (running_ && e.incarnation >= incarnation_) refute(e.incarnation, "");
        } else if (members_.count(e.node)) {
          // Treated as suspicion: a sync is not a first-hand observation.
          handleSuspect(Suspect{e.node, e.incarnation, "sync"});
        }
        break;
    }
  }
  quiet_ = false;
}

std::vector<MemberEntry> Membership::snapshot() const {
  std::vector<MemberEntry> out;
  out.push_back(
      MemberEntry{selfId_, selfAddr_, incarnation_, running_ ? MemberState::kAlive : MemberState::kLeft});
  for (const auto& [id, m] : members_) out.push_back(MemberEntry{id, m.addr, m.incarnation, m.state});
  return out;
}

uint64_t Membership::viewHash() const {
  std::map<std::string, uint64_t> live;
  live[selfId_] = incarnation_;
  for (const auto& [id, m] : members_)
    if (m.state == MemberState::kAlive || m.state == MemberState::kSuspect) live[id] = m.incarnation;
  uint64_t h = kFnvOffset;
  for (const auto& [id, inc] : live) h = fnv1a(fnv1a(h, id), inc);
  return h;
}

const Member* Membership::find(const std::string& id) const {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : &it->second;
}

std::vector<const Member*> Membership::liveMembers() const {
  std::vector<const Member*> out;
  for (const auto& [id, m] : members_)
    if (m.state == MemberState::kAlive || m.state == MemberState::kSuspect) out.push_back(&m);
  return out;
}

std::vector<const Member*> Membership::gossipCandidates() const {
  std::vector<const Member*> out;
  const Time now = clock_.now();
  for (const auto& [id, m] : members_) {
    if (m.state == MemberState::kAlive || m.state == MemberState::kSuspect ||
        (m.state == MemberState::kDead && now - m.stateSince < cfg_.gossipToDeadTime))
      out.push_back(&m);
  }
  return out;
}

void Membership::reapTick() {
  reapTimer_ = clock_.schedule(std::chrono::seconds(5), [this] { reapTick(); });
  const Time now = clock_.now();
  for (auto it = members_.begin(); it != members_.end();) {
    const Member& m = it->second;
    if ((m.state == MemberState::kDead || m.state == MemberState::kLeft) &&
        now - m.stateSince >= cfg_.reapAfter) {
      Member gone = m;
      it = members_.erase(it);
      host_.memberReaped(gone);
    } else {
      ++it;
    }
  }
}

}  // namespace weft::gossip
