#include "datapath/datapath.h"

namespace weft::datapath {

Datapath::Network* Datapath::network(uint32_t vni) {
  auto it = networks_.find(vni);
  return it == networks_.end() ? nullptr : it->second.get();
}

Status Datapath::addNetwork(uint32_t vni, const std::string& networkId, std::vector<uint8_t> material,
                            RekeyPolicy policy, uint16_t port) {
  if (vni > kMaxVni) return Error{EINVAL, "datapath: vni " + std::to_string(vni) + " is not a 24-bit value"};
  if (networks_.contains(vni))
    return Error{EEXIST, "datapath: vni " + std::to_string(vni) + " already has a network"};
  if (networks_.size() >= kMaxNetworks)
    return Error{ENOSPC, "datapath: at most " + std::to_string(kMaxNetworks) + " encrypted networks"};
  // Checked here, with a stand-in peer, so a bad network fails when added,
  // not at its first peer.
  if (auto s = validate(material, Direction{networkId, self_, self_ == "-" ? "+" : "-"}); !s) return s;
  if (auto s = validate(policy); !s) return s;
  networks_.emplace(vni, std::make_unique<Network>(Network{
                             networkId, std::move(material), policy, port, ForwardingTable(port), {}, {}}));
  return Status::Ok();
}

Status Datapath::removeNetwork(uint32_t vni) {
  if (networks_.erase(vni) == 0) return Error{ENOENT, "datapath: no network with vni " + std::to_string(vni)};
  return Status::Ok();
}

Status Datapath::addPeer(uint32_t vni, const PeerSpec& spec, Clock::time_point now) {
  Network* n = network(vni);
  if (!n) return Error{ENOENT, "datapath: no network with vni " + std::to_string(vni)};
  if (spec.senderId == selfId_)
    return Error{EINVAL,
                 "datapath: peer " + spec.host + " has this host's sender id " + std::to_string(selfId_)};
  if (n->peers.contains(spec.senderId))
    return Error{EEXIST, "datapath: sender id " + std::to_string(spec.senderId) + " is already a peer"};
  if (n->peers.size() >= kMaxPeersPerNetwork)
    return Error{ENOSPC, "datapath: at most " + std::to_string(kMaxPeersPerNetwork) + " peers per network"};
  auto addr = parsePeerAddr(spec.vtep, n->port);
  if (!addr) return addr.error();
  auto tx = TxSession::create(n->material, Direction{n->id, self_, spec.host}, vni, selfId_,
                              spec.txStartEpoch, n->policy, now);
  if (!tx) return tx.error();
  auto rx = RxSession::create(n->material, Direction{n->id, spec.host, self_}, n->policy, spec.rxMinEpoch);
  if (!rx) return rx.error();
  noteEpoch(spec.txStartEpoch);
  auto peer = std::make_unique<Peer>(Peer{spec.host, *addr, std::move(*tx), std::move(*rx), {}});
  n->byAddr[peer->addr] = peer.get();
  n->peers.emplace(spec.senderId, std::move(peer));
  return Status::Ok();
}

Status Datapath::removePeer(uint32_t vni, uint32_t senderId) {
  Network* n = network(vni);
  auto it = n ? n->peers.find(senderId) : decltype(n->peers)::iterator{};
  if (!n || it == n->peers.end())
    return Error{ENOENT, "datapath: no peer with sender id " + std::to_string(senderId) + " on vni " +
                             std::to_string(vni)};
  n->byAddr.erase(it->second->addr);
  n->peers.erase(it);
  return Status::Ok();
}

ForwardingTable* Datapath::forwarding(uint32_t vni) {
  Network* n = network(vni);
  return n ? &n->fdb : nullptr;
}

size_t Datapath::rotateAll(Clock::time_point now) {
  size_t rotated = 0;
  for (auto& [vni, n] : networks_)
    for (auto& [id, p] : n->peers)
      if (p->tx.rotate(now)) {
        ++p->counters.rekeys;
        noteEpoch(p->tx.epoch());
        ++rotated;
      }
  return rotated;
}

Result<size_t> Datapath::seal(uint32_t vni, const PeerAddr& to, Frames frames, std::span<uint8_t> out,
                              Clock::time_point now) {
  Network* n = network(vni);
  auto it = n ? n->byAddr.find(to) : decltype(n->byAddr)::iterator{};
  if (!n || it == n->byAddr.end()) {
    ++unattributed_.sealFailed;
    return Error{ENOENT, "datapath: no peer " + to.str() + " on vni " + std::to_string(vni)};
  }
  Peer& p = *it->second;
  const uint64_t rekeysBefore = p.tx.rekeys();
  auto size = p.tx.seal(frames, out, now);
  if (p.tx.rekeys() != rekeysBefore) {
    p.counters.rekeys += p.tx.rekeys() - rekeysBefore;
    noteEpoch(p.tx.epoch());
  }
  if (!size) {
    ++p.counters.sealFailed;
    return size;
  }
  ++p.counters.sealedPackets;
  p.counters.sealedFrames += frames.size();
  for (const auto& f : frames) p.counters.sealedBytes += f.size();
  return size;
}

bool Datapath::open(std::span<uint8_t> packet, Received* out, Clock::time_point now) {
  Header h;
  switch (decodeHeader(packet, &h)) {
    case HeaderError::kNone:
      break;
    case HeaderError::kTruncated:
      ++unattributed_.truncated;
      return false;
    case HeaderError::kTooBig:
      ++unattributed_.tooBig;
      return false;
    case HeaderError::kBadVersion:
      ++unattributed_.badVersion;
      return false;
    case HeaderError::kBadHeader:
      ++unattributed_.badHeader;
      return false;
  }
  Network* n = network(h.vni);
  auto it = n ? n->peers.find(h.senderId) : decltype(n->peers)::iterator{};
  if (!n || it == n->peers.end()) {
    ++unattributed_.unknownSender;
    return false;
  }
  Peer& p = *it->second;
  // Attributed to the peer the header names; until the tag is verified that
  // is only a claim, which is why failures are counted, never acted on.
  switch (p.rx.open(h, packet, &out->frames, now)) {
    case OpenError::kNone:
      break;
    case OpenError::kStaleKey:
      ++p.counters.staleKey;
      return false;
    case OpenError::kReplayed:
      ++p.counters.replayed;
      return false;
    case OpenError::kAuthFailed:
      ++p.counters.authFailed;
      return false;
    case OpenError::kMalformedInner:
      ++p.counters.malformedInner;
      return false;
  }
  out->vni = h.vni;
  out->senderId = h.senderId;
  ++p.counters.openedPackets;
  p.counters.openedFrames += out->frames.size();
  for (const auto& f : out->frames) p.counters.openedBytes += f.size();
  return true;
}

const Counters* Datapath::peerCounters(uint32_t vni, uint32_t senderId) const {
  auto n = networks_.find(vni);
  if (n == networks_.end()) return nullptr;
  auto p = n->second->peers.find(senderId);
  return p == n->second->peers.end() ? nullptr : &p->second->counters;
}

std::vector<Datapath::PeerView> Datapath::peers(uint32_t vni) const {
  std::vector<PeerView> out;
  auto n = networks_.find(vni);
  if (n == networks_.end()) return out;
  for (const auto& [id, p] : n->second->peers)
    out.push_back(PeerView{id, p->host, p->addr.str(), p->tx.epoch(), p->counters});
  return out;
}

Counters Datapath::totals() const {
  Counters t = unattributed_;
  for (const auto& [vni, n] : networks_)
    for (const auto& [id, p] : n->peers) t += p->counters;
  return t;
}

}  // namespace weft::datapath
