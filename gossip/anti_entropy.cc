// GossipNode, part two: repair. Digest-based anti-entropy between random
// peers and full-state Sync over the stream transport (join, view repair).
#include <algorithm>

#include "gossip/messages.h"
#include "gossip/node.h"
#include "gossip/seal.h"

namespace weft::gossip {

// ----------------------------------------------------------- anti-entropy

void GossipNode::antiEntropyTick() {
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  aeTimer_ = clock_.schedule(Duration(static_cast<int64_t>(cfg_.antiEntropyInterval.count() * jitter(rng_))),
                             [this] { antiEntropyTick(); });
  if (!membership_->running()) return;
  std::vector<const Member*> candidates = membership_->gossipCandidates();
  if (candidates.empty()) return;
  std::uniform_int_distribution<size_t> pickIdx(0, candidates.size() - 1);
  const Member* peer = candidates[pickIdx(rng_)];
  const uint64_t view = viewHash();
  DigestSummary main{view, {}};
  std::map<const Member*, DigestSummary> extra;
  for (const std::string& net : localNetworks_) {
    const uint64_t root = networkRoot(net);
    if (carries(peer->id, net)) {
      main.roots.emplace_back(net, root);
      continue;
    }
    // Make sure every network we carry gets a round with one of its carriers.
    std::vector<const Member*> carriers;
    for (const Member* m : candidates)
      if (m->state != MemberState::kDead && carries(m->id, net)) carriers.push_back(m);
    if (carriers.empty()) continue;
    std::uniform_int_distribution<size_t> pc(0, carriers.size() - 1);
    const Member* c = carriers[pc(rng_)];
    auto [it, fresh] = extra.try_emplace(c, DigestSummary{view, {}});
    it->second.roots.emplace_back(net, root);
  }
  sendMessages(peer->addr, peer->id, {main});
  for (auto& [m, s] : extra) sendMessages(m->addr, m->id, {s});
}

void GossipNode::handleSummary(const std::string& addr, const DigestSummary& s) {
  if (s.memberHash != viewHash() && clock_.now() - lastMemberSync_ >= cfg_.memberSyncMinInterval) {
    lastMemberSync_ = clock_.now();
    // Members and subscriptions only: records are repaired by the digests.
    ++stats_.syncs;
    sendStreamMessage(addr, buildSync(false, {}, {}));
  }
  DigestDetail detail{false, {}};
  for (const auto& [net, root] : s.roots) {
    if (!localNetworks_.count(net)) continue;
    if (networkRoot(net) != root) detail.networks.emplace_back(net, computeDigest(table_, net));
  }
  if (!detail.networks.empty()) sendMessages(addr, "", {detail});
}

void GossipNode::handleDetail(const std::string& addr, const DigestDetail& d) {
  DigestDetail back{true, {}};
  std::vector<EndpointRecord> toSend;
  for (const auto& [net, theirs] : d.networks) {
    if (!localNetworks_.count(net)) continue;
    auto recs = recordsForDigestDiff(table_, net, theirs);
    toSend.insert(toSend.end(), recs.begin(), recs.end());
    NetworkDigest ours = computeDigest(table_, net);
    if (!d.final && digestHasNews(ours, theirs)) back.networks.emplace_back(net, std::move(ours));
  }
  sendRecords(addr, toSend);
  if (!back.networks.empty()) sendMessages(addr, "", {back});
}

void GossipNode::sendRecords(const std::string& addr, const std::vector<EndpointRecord>& records) {
  if (records.empty()) return;
  const size_t budget = cfg_.maxPacket - sealOverhead(cfg_.label.size()) - envelopeHeaderSize(cfg_.id);
  std::vector<std::vector<uint8_t>> frames;
  size_t used = 0, total = 0;
  for (const auto& r : records) total += encodeMessage(RecordUpdate{r}).size();
  const bool stream = total > 8 * budget;  // bulk repairs go over the stream
  for (const auto& r : records) {
    auto f = encodeMessage(RecordUpdate{r});
    if (!stream && used + f.size() > budget && !frames.empty()) {
      sendFramed(addr, frames, false);
      frames.clear();
      used = 0;
    }
    used += f.size();
    frames.push_back(std::move(f));
    if (stream && frames.size() == 65535) {
      sendFramed(addr, frames, true);
      frames.clear();
    }
  }
  sendFramed(addr, frames, stream);
}

Sync GossipNode::buildSync(bool reply, const std::vector<std::string>& recordNets,
                           const std::vector<std::string>& want) const {
  Sync s;
  s.reply = reply;
  s.addr = cfg_.addr;
  s.members = membership_->snapshot();
  for (const auto& [node, n] : peerNetworks_) s.networks.push_back(n);
  if (!peerNetworks_.count(cfg_.id))
    s.networks.push_back(Networks{cfg_.id, networksVersion_, {localNetworks_.begin(), localNetworks_.end()}});
  for (const std::string& net : recordNets) {
    auto it = table_.networks.find(net);
    if (!localNetworks_.count(net) || it == table_.networks.end()) continue;
    for (const auto& [ep, r] : it->second.records) s.records.push_back(r);
  }
  s.want = want;
  return s;
}

void GossipNode::requestSync(const std::string& addr, std::vector<std::string> want) {
  ++stats_.syncs;
  std::vector<std::string> mine(localNetworks_.begin(), localNetworks_.end());
  sendStreamMessage(addr, buildSync(false, mine, want.empty() ? mine : want));
}

void GossipNode::handleSync(const std::string& sender, const Sync& s) {
  // A node that knows nobody yet is joining: what it pulls is what the
  // cluster already has, so it is applied without being gossiped on. A member
  // repairing its view (e.g. after a partition) passes news on.
  const bool rebroadcast = membership_->liveCount() > 1;
  membership_->mergeRemote(s.members, rebroadcast);
  for (const auto& n : s.networks) applyNetworks(n, rebroadcast);
  for (const auto& r : s.records) applyRecord(r, rebroadcast);
  if (!s.reply && !s.addr.empty()) {
    ++stats_.syncs;
    sendStreamMessage(s.addr, buildSync(true, s.want, {}));
  }
}

}  // namespace weft::gossip
