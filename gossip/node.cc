// GossipNode, part one: lifecycle, sealing and dispatching packets, and
// dissemination (parts two and three: anti_entropy.cc, node_records.cc).
#include "gossip/node.h"

#include <algorithm>

#include "common/log.h"
#include "gossip/messages.h"
#include "gossip/seal.h"

namespace weft::gossip {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

GossipNode::GossipNode(NodeConfig cfg, Keyring keyring, Transport& transport, Clock& clock, uint64_t seed,
                       uint64_t epoch)
    : cfg_(std::move(cfg)),
      keyring_(std::move(keyring)),
      transport_(transport),
      clock_(clock),
      rng_(seed),
      epoch_(epoch),
      versionCounter_(epoch),
      networksVersion_(epoch) {
  membership_ = std::make_unique<Membership>(cfg_.id, cfg_.addr, cfg_.membership, clock_, rng_,
                                             static_cast<MembershipHost&>(*this));
  transport_.setHandler([this](const std::string& from, std::vector<uint8_t> data, bool stream) {
    onPacket(from, std::move(data), stream);
  });
}

GossipNode::~GossipNode() {
  stop();
  transport_.setHandler(nullptr);
}

void GossipNode::start() {
  running_ = true;
  membership_->start(0);
  std::uniform_int_distribution<int64_t> phase(0, cfg_.gossipInterval.count());
  gossipTimer_ = clock_.schedule(Duration(phase(rng_)), [this] { gossipTick(); });
  aeTimer_ = clock_.schedule(cfg_.antiEntropyInterval, [this] { antiEntropyTick(); });
  expiryTimer_ = clock_.schedule(std::chrono::seconds(1), [this] { expiryTick(); });
}

void GossipNode::stop() {
  running_ = false;
  membership_->stop();
  for (auto t : {gossipTimer_, eagerTimer_, aeTimer_, expiryTimer_}) clock_.cancel(t);
  gossipTimer_ = eagerTimer_ = aeTimer_ = expiryTimer_ = 0;
}

void GossipNode::join(const std::vector<std::string>& seedAddrs) {
  std::vector<std::string> nets(localNetworks_.begin(), localNetworks_.end());
  for (const auto& s : seedAddrs) {
    if (s == cfg_.addr) continue;
    // A (re)join happens when this node is new or alone: whoever answers at
    // the seed may be a newer boot than the one last heard there, which
    // would refuse packets sealed for the old one -- and cannot tell a
    // stream's sender where to learn better. Seal for "any boot" (0).
    if (auto id = addrIds_.find(s); id != addrIds_.end()) peerEpochs_.erase(id->second);
    requestSync(s, nets);
  }
}

void GossipNode::leave() {
  membership_->leave();
  gossipRound();
  // Keep retransmitting the leave for a little while, then go quiet.
  clock_.schedule(cfg_.gossipInterval * 3, [this] { stop(); });
}

// ---------------------------------------------------------------- packets

std::vector<uint8_t> GossipNode::sealEnvelope(const std::string& to, const std::string& nodeId,
                                              const std::vector<std::vector<uint8_t>>& framed) {
  std::string id = nodeId;
  if (id.empty()) {
    auto known = addrIds_.find(to);
    if (known != addrIds_.end()) id = known->second;
  }
  uint64_t receiverEpoch = 0;
  if (!id.empty()) {
    auto e = peerEpochs_.find(id);
    if (e != peerEpochs_.end()) receiverEpoch = e->second;
  }
  std::vector<uint8_t> plain =
      encodeEnvelopeHeader(cfg_.id, epoch_, ++sendSeq_, static_cast<uint16_t>(framed.size()),
                           receiverTag(id.empty() ? to : id), receiverEpoch);
  for (const auto& f : framed) plain.insert(plain.end(), f.begin(), f.end());
  return seal(keyring_, cfg_.label, plain);
}

void GossipNode::sendFramed(const std::string& addr, const std::vector<std::vector<uint8_t>>& framed,
                            bool stream, const std::string& nodeId) {
  if (addr.empty() || framed.empty()) return;
  std::vector<uint8_t> packet = sealEnvelope(addr, nodeId, framed);
  for (const auto& f : framed)
    if (size_t t = framedMessageType(f); t < kMessageTypes) ++stats_.messagesSent[t];
  ++stats_.packetsSent;
  stats_.bytesSent += packet.size();
  if (stream)
    transport_.sendStream(addr, std::move(packet));
  else
    transport_.sendDatagram(addr, std::move(packet));
}

void GossipNode::sendStreamMessage(const std::string& addr, const Message& m) {
  sendFramed(addr, {encodeMessage(m)}, true);
}

void GossipNode::sendMessages(const std::string& addr, const std::string& nodeId, std::vector<Message> msgs) {
  if (!running_) return;
  std::vector<std::vector<uint8_t>> framed;
  size_t used = sealOverhead(cfg_.label.size()) + envelopeHeaderSize(cfg_.id);
  for (const auto& m : msgs) {
    framed.push_back(encodeMessage(m));
    used += framed.back().size();
  }
  if (used < cfg_.maxPacket && !queue_.empty()) {
    std::set<uint64_t> exclude;
    auto extra = queue_.take(
        cfg_.maxPacket - used, retransmitLimit(cfg_.retransmitMult, membership_->liveCount()),
        [&](const std::string& net) { return net.empty() || carries(nodeId, net); }, &exclude);
    for (auto& e : extra) framed.push_back(std::move(e));
  }
  sendFramed(addr, framed, false, nodeId);
}

std::optional<Envelope> GossipNode::openEnvelope(const std::string& from, std::span<const uint8_t> data,
                                                 bool stream, StreamHello* verdict) {
  ++stats_.packetsReceived;
  stats_.bytesReceived += data.size();
  if (verdict) *verdict = StreamHello::kRefused;
  Opened opened = open(keyring_, cfg_.label, data);
  switch (opened.error) {
    case OpenError::kNone:
      break;
    case OpenError::kAuthFailed:
      ++stats_.forged;
      LOG_DEBUG("gossip", cfg_.id << ": dropped packet from " << from << ": " << describe(opened.error));
      return std::nullopt;
    case OpenError::kLabelMismatch:
      ++stats_.wrongLabel;
      return std::nullopt;
    default:
      ++stats_.malformed;
      return std::nullopt;
  }
  if (verdict) *verdict = StreamHello::kDropped;  // authentic from here on
  auto env = decodeEnvelope(opened.plaintext);
  if (!env.ok()) {
    ++stats_.malformed;
    LOG_DEBUG("gossip", cfg_.id << ": " << env.error().message << " from " << from);
    return std::nullopt;
  }
  if (env->sender == cfg_.id) return std::nullopt;
  // Sealed for another node (a capture replayed here), or for an earlier
  // boot of this one (captured before it restarted).
  if (env->receiver != receiverTag(cfg_.id) && env->receiver != receiverTag(cfg_.addr)) {
    ++stats_.misdirected;
    ++stats_.replayed;
    return std::nullopt;
  }
  if (env->receiverEpoch != 0 && env->receiverEpoch != epoch_) {
    ++stats_.staleSession;
    ++stats_.replayed;
    answerStaleSession(from, env->sender, stream);
    return std::nullopt;
  }
  if (replay_.check(env->sender, env->epoch, env->seq) != ReplayVerdict::kAccept) {
    ++stats_.replayed;
    return std::nullopt;
  }
  auto& known = peerEpochs_[env->sender];
  known = std::max(known, env->epoch);
  if (verdict) *verdict = StreamHello::kAccepted;
  return std::move(*env);
}

void GossipNode::answerStaleSession(const std::string& from, const std::string& sender, bool stream) {
  std::string addr = addrOf(sender);
  if (addr.empty() && !stream) addr = from;  // a datagram's source is the sender's socket
  if (addr.empty()) return;
  const Time now = clock_.now();
  auto it = staleAnswered_.find(sender);
  if (it != staleAnswered_.end() && now - it->second < kStaleSessionAnswerInterval) return;
  if (staleAnswered_.size() >= kMaxStaleSessionAnswered) staleAnswered_.clear();  // authentic senders only
  staleAnswered_[sender] = now;
  std::vector<uint8_t> packet = sealEnvelope(addr, sender, {});
  ++stats_.packetsSent;
  stats_.bytesSent += packet.size();
  transport_.sendDatagram(addr, std::move(packet));
}

void GossipNode::onPacket(const std::string& from, std::vector<uint8_t> data, bool stream) {
  if (!running_) return;
  auto env = openEnvelope(from, data, stream);
  if (!env) return;
  for (auto& m : env->messages) {
    if (!running_) return;
    ++stats_.messagesReceived[m.index()];
    dispatch(from, env->sender, m);
  }
}

std::vector<uint8_t> GossipNode::streamHello(const std::string& to) { return sealEnvelope(to, "", {}); }

StreamHello GossipNode::acceptStreamHello(const std::string& from, std::span<const uint8_t> hello) {
  if (!running_) return StreamHello::kDropped;
  StreamHello verdict;
  auto env = openEnvelope(from, hello, true, &verdict);
  if (env && !env->messages.empty()) return StreamHello::kDropped;
  return verdict;
}

void GossipNode::dispatch(const std::string& from, const std::string& sender, Message& msg) {
  std::visit(Overloaded{
                 [&](const Ping& p) { membership_->handlePing(from, p); },
                 [&](const IndirectPing& p) { membership_->handleIndirectPing(from, p); },
                 [&](const Ack& a) { membership_->handleAck(a); },
                 [&](const Nack& n) { membership_->handleNack(n); },
                 [&](const Alive& a) { membership_->handleAlive(a); },
                 [&](const Suspect& s) { membership_->handleSuspect(s); },
                 [&](const Dead& d) { membership_->handleDead(d); },
                 [&](const Networks& n) { applyNetworks(n); },
                 [&](const RecordUpdate& r) { applyRecord(r.record); },
                 [&](const DigestSummary& s) {
                   std::string addr = addrOf(sender);
                   handleSummary(addr.empty() ? from : addr, s);
                 },
                 [&](const DigestDetail& d) {
                   std::string addr = addrOf(sender);
                   handleDetail(addr.empty() ? from : addr, d);
                 },
                 [&](const Sync& s) { handleSync(sender, s); },
             },
             msg);
}

uint64_t GossipNode::networkRoot(const std::string& network) {
  auto it = table_.networks.find(network);
  const uint64_t gen = it == table_.networks.end() ? 0 : it->second.generation;
  auto c = rootCache_.find(network);
  if (c != rootCache_.end() && c->second.first == gen && gen != 0) return c->second.second;
  const uint64_t root = digestRoot(computeDigest(table_, network));
  rootCache_[network] = {gen, root};
  return root;
}

uint64_t GossipNode::viewHash() const {
  uint64_t h = membership_->viewHash();
  for (const auto& [node, n] : peerNetworks_) {
    const Member* m = membership_->find(node);
    const bool live =
        node == cfg_.id || (m && (m->state == MemberState::kAlive || m->state == MemberState::kSuspect));
    if (live) h = fnv1a(fnv1a(h, node), n.version);
  }
  return h;
}

std::string GossipNode::addrOf(const std::string& nodeId) const {
  const Member* m = membership_->find(nodeId);
  return m ? m->addr : std::string();
}

// ----------------------------------------------------------- dissemination

bool GossipNode::carries(const std::string& nodeId, const std::string& network) const {
  auto it = peerNetworks_.find(nodeId);
  if (it == peerNetworks_.end()) return false;
  const auto& nets = it->second.networks;
  return std::find(nets.begin(), nets.end(), network) != nets.end();
}

void GossipNode::enqueue(std::string key, std::string network, const Message& m) {
  queue_.enqueue(std::move(key), std::move(network), encodeMessage(m));
  scheduleEagerPush();
}

void GossipNode::broadcastMembership(const std::string& node, const Message& m) {
  enqueue("m:" + node, "", m);
}

void GossipNode::scheduleEagerPush() {
  if (eagerTimer_ != 0 || !running_) return;
  eagerTimer_ = clock_.schedule(cfg_.eagerDelay, [this] {
    eagerTimer_ = 0;
    gossipRound();
  });
}

void GossipNode::gossipTick() {
  gossipTimer_ = clock_.schedule(cfg_.gossipInterval, [this] { gossipTick(); });
  gossipRound();
}

void GossipNode::gossipRound() {
  if (!running_ || queue_.empty()) return;
  const int limit = retransmitLimit(cfg_.retransmitMult, membership_->liveCount());
  std::vector<const Member*> candidates = membership_->gossipCandidates();
  std::map<std::string, const Member*> targets;
  auto pick = [&](std::vector<const Member*> pool) {
    std::shuffle(pool.begin(), pool.end(), rng_);
    for (size_t i = 0; i < pool.size() && i < static_cast<size_t>(cfg_.gossipFanout); ++i)
      targets[pool[i]->id] = pool[i];
  };
  for (const std::string& net : queue_.pendingNetworks()) {
    if (net.empty()) {
      pick(candidates);
    } else {
      std::vector<const Member*> pool;
      for (const Member* m : candidates)
        if (m->state != MemberState::kDead && carries(m->id, net)) pool.push_back(m);
      pick(std::move(pool));
    }
  }
  const size_t budget = cfg_.maxPacket - sealOverhead(cfg_.label.size()) - envelopeHeaderSize(cfg_.id);
  for (const auto& [id, m] : targets) {
    std::set<uint64_t> exclude;
    for (int packets = 0; packets < 4 && !queue_.empty(); ++packets) {
      auto frames = queue_.take(
          budget, limit,
          [&, nodeId = id](const std::string& net) { return net.empty() || carries(nodeId, net); }, &exclude);
      if (frames.empty()) break;
      sendFramed(m->addr, frames, false);
    }
  }
}

}  // namespace weft::gossip
