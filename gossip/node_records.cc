// GossipNode, part three: records. Endpoint records and the networks each
// node carries: publish/withdraw, applying what peers send, and what a change
// of a member's state means for the records it owned.
#include <algorithm>

#include "common/log.h"
#include "gossip/messages.h"
#include "gossip/node.h"

namespace weft::gossip {
namespace {

// The broadcast queue's key for a record: a newer update of the same
// endpoint replaces the queued one.
std::string recordKey(const EndpointRecord& r) { return "r:" + r.network + "/" + r.endpoint; }

}  // namespace
// ----------------------------------------------------------------- records

void GossipNode::announceNetworks() {
  Networks n{cfg_.id, ++networksVersion_, {localNetworks_.begin(), localNetworks_.end()}};
  peerNetworks_[cfg_.id] = n;
  enqueue("n:" + cfg_.id, "", n);
}

void GossipNode::applyNetworks(const Networks& n, bool rebroadcast) {
  if (n.node == cfg_.id) {
    if (n.version > networksVersion_) {  // a previous life's view of us
      networksVersion_ = n.version;
      announceNetworks();
    }
    return;
  }
  auto it = peerNetworks_.find(n.node);
  if (it != peerNetworks_.end() && n.version <= it->second.version) return;
  peerNetworks_[n.node] = n;
  if (rebroadcast) enqueue("n:" + n.node, "", n);
}

void GossipNode::notifyRecord(const EndpointRecord& before, bool hadBefore, const EndpointRecord* after) {
  if (!onRecordChange) return;
  const bool wasActive = hadBefore && isActive(table_, before);
  const bool nowActive = after && isActive(table_, *after);
  if (nowActive)
    onRecordChange(*after, true);
  else if (wasActive)
    onRecordChange(before, false);
}

void GossipNode::applyRecord(const EndpointRecord& r, bool rebroadcast) {
  if (!localNetworks_.count(r.network)) return;
  if (r.owner == cfg_.id) {
    // Only we change our records. A newer one is from a previous life of this
    // node: supersede it with the current truth.
    auto local = local_.find({r.network, r.endpoint});
    const EndpointRecord* mine = findRecord(table_, r.network, r.endpoint);
    if (mine && !supersedes(r, *mine)) return;
    versionCounter_ = std::max(versionCounter_, r.version);
    EndpointRecord truth = local != local_.end() ? local->second : r;
    if (local == local_.end()) truth.deleted = true;
    truth.version = ++versionCounter_;
    if (local != local_.end()) local->second.version = truth.version;
    mergeRecord(table_, truth, clock_.now());
    enqueue(recordKey(truth), truth.network, RecordUpdate{truth});
    return;
  }
  const EndpointRecord* cur = findRecord(table_, r.network, r.endpoint);
  EndpointRecord before = cur ? *cur : EndpointRecord{};
  const bool had = cur != nullptr;
  if (mergeRecord(table_, r, clock_.now()) == MergeOutcome::kStale) return;
  ++stats_.recordsApplied;
  notifyRecord(before, had, findRecord(table_, r.network, r.endpoint));
  if (rebroadcast) enqueue(recordKey(r), r.network, RecordUpdate{r});
}

void GossipNode::publish(EndpointRecord r) {
  r.owner = cfg_.id;
  r.deleted = false;
  r.version = ++versionCounter_;
  const bool newNetwork = !localNetworks_.count(r.network);
  local_[{r.network, r.endpoint}] = r;
  if (newNetwork) subscribe(r.network);
  mergeRecord(table_, r, clock_.now());
  enqueue(recordKey(r), r.network, RecordUpdate{r});
}

void GossipNode::withdraw(const std::string& network, const std::string& endpoint) {
  auto it = local_.find({network, endpoint});
  if (it == local_.end()) return;
  EndpointRecord tomb = it->second;
  tomb.deleted = true;
  tomb.version = ++versionCounter_;
  local_.erase(it);
  mergeRecord(table_, tomb, clock_.now());
  // Queued even if we stop carrying the network: carriers still get it, and
  // their anti-entropy repairs any that missed it.
  enqueue(recordKey(tomb), network, RecordUpdate{tomb});
  bool last =
      std::none_of(local_.begin(), local_.end(), [&](const auto& kv) { return kv.first.first == network; });
  if (last) unsubscribe(network);
}

void GossipNode::subscribe(const std::string& network) {
  localNetworks_.insert(network);
  announceNetworks();
  std::vector<const Member*> carriers;
  for (const Member* m : membership_->liveMembers())
    if (carries(m->id, network)) carriers.push_back(m);
  if (!carriers.empty()) {
    std::uniform_int_distribution<size_t> pick(0, carriers.size() - 1);
    requestSync(carriers[pick(rng_)]->addr, {network});
  }
}

void GossipNode::unsubscribe(const std::string& network) {
  localNetworks_.erase(network);
  auto it = table_.networks.find(network);
  if (it != table_.networks.end() && onRecordChange) {
    for (const auto& [ep, r] : it->second.records)
      if (r.owner != cfg_.id && isActive(table_, r)) onRecordChange(r, false);
  }
  dropNetwork(table_, network);
  rootCache_.erase(network);
  announceNetworks();
}

std::vector<EndpointRecord> GossipNode::endpoints(const std::string& network) const {
  return activeRecords(table_, network);
}

const EndpointRecord* GossipNode::findEndpoint(const std::string& network,
                                               const std::string& endpoint) const {
  const EndpointRecord* r = findRecord(table_, network, endpoint);
  return r && isActive(table_, *r) ? r : nullptr;
}

void GossipNode::memberChanged(const Member& m, MemberState previous, bool isNew) {
  addrIds_[m.addr] = m.id;
  const bool down = m.state == MemberState::kDead || m.state == MemberState::kLeft;
  const bool wasDown = previous == MemberState::kDead || previous == MemberState::kLeft;
  // A member first heard of is news either way for cluster-wide IPAM: as
  // dead (a joiner's sync) for the grace period, as alive for how long it
  // has been reachable (a takeover of this host's block by a member alive
  // here all along is forged).
  if (onMemberChange && (isNew || down != wasDown)) onMemberChange(m.id, !down);
  if (down == wasDown || isNew) return;
  auto ownedActive = [&] {
    std::vector<EndpointRecord> out;
    for (const auto& [net, nr] : table_.networks)
      for (const auto& [ep, r] : nr.records)
        if (r.owner == m.id && isActive(table_, r)) out.push_back(r);
    return out;
  };
  if (down) {
    peerEpochs_.erase(m.id);  // it may come back as a new boot: seal for any boot until heard
    auto affected = ownedActive();
    suspendOwner(table_, m.id);
    if (!cfg_.reportDeadAsInactive && m.state == MemberState::kDead) {
      silentlySuspended_[m.id] = affected;
      return;
    }
    if (onRecordChange)
      for (const auto& r : affected) onRecordChange(r, false);
  } else {
    resumeOwner(table_, m.id);
    auto silent = silentlySuspended_.find(m.id);
    auto now = ownedActive();
    if (silent != silentlySuspended_.end()) {
      // The consumer still has what was active at the suspension: tell it
      // what went meanwhile; what is active now is repeated below.
      if (onRecordChange)
        for (const auto& old : silent->second) {
          bool still = std::any_of(now.begin(), now.end(), [&](const EndpointRecord& r) {
            return r.network == old.network && r.endpoint == old.endpoint;
          });
          if (!still) onRecordChange(old, false);
        }
      silentlySuspended_.erase(silent);
    }
    if (onRecordChange)
      for (const auto& r : now) onRecordChange(r, true);
  }
}

void GossipNode::memberReaped(const Member& m) {
  auto silent = silentlySuspended_.find(m.id);
  const bool suspended = table_.suspendedOwners.count(m.id) > 0;
  auto removed = dropOwner(table_, m.id);
  if (silent != silentlySuspended_.end()) {
    if (onRecordChange)
      for (const auto& r : silent->second) onRecordChange(r, false);
    silentlySuspended_.erase(silent);
  } else if (!suspended && onRecordChange) {
    for (const auto& r : removed) onRecordChange(r, false);
  }
  peerNetworks_.erase(m.id);
  replay_.forget(m.id);
  peerEpochs_.erase(m.id);
  staleAnswered_.erase(m.id);
  if (auto a = addrIds_.find(m.addr); a != addrIds_.end() && a->second == m.id) addrIds_.erase(a);
}

void GossipNode::expiryTick() {
  expiryTimer_ = clock_.schedule(std::max<Duration>(cfg_.tombstoneTtl / 10, std::chrono::seconds(1)),
                                 [this] { expiryTick(); });
  expireTombstones(table_, clock_.now(), cfg_.tombstoneTtl);
}

}  // namespace weft::gossip
