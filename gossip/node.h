#pragma once
// GossipNode: one member of the control plane. Ties together sealing and
// replay protection of every packet, SWIM membership, dissemination of
// endpoint records (eager push + piggybacked retransmits), digest-based
// anti-entropy, and full state sync on join. Single-threaded; runs on an
// abstract Clock and Transport (simulated in tests, sockets in production).

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "gossip/broadcast_queue.h"
#include "gossip/clock.h"
#include "gossip/keyring.h"
#include "gossip/membership.h"
#include "gossip/merge.h"
#include "gossip/messages.h"
#include "gossip/replay_window.h"
#include "gossip/transport.h"

namespace weft::gossip {

// A node answers an envelope sealed for an earlier boot of its own (so the
// sender learns its new epoch) at most once per interval per sender, and
// remembers at most this many senders it answered.
inline constexpr auto kStaleSessionAnswerInterval = std::chrono::seconds(1);
inline constexpr size_t kMaxStaleSessionAnswered = 1024;

struct NodeConfig {
  std::string id;              // unique node name
  std::string addr;            // advertised "host:port"
  std::string label = "weft";  // cluster label, bound into every packet
  MembershipConfig membership;
  Duration gossipInterval = std::chrono::milliseconds(200);
  int gossipFanout = 3;
  // New broadcasts are pushed this soon (batched), instead of waiting a tick.
  Duration eagerDelay = std::chrono::milliseconds(2);
  int retransmitMult = 3;
  size_t maxPacket = 1400;  // sealed datagram size budget
  Duration antiEntropyInterval = std::chrono::seconds(2);
  Duration memberSyncMinInterval = std::chrono::seconds(30);
  Duration tombstoneTtl = std::chrono::minutes(10);
  // A dead member (not one that left) may only have lost its control plane
  // while its data plane still forwards (a restart or upgrade of weft there).
  // When false, its records are suspended silently: onRecordChange is not
  // told they went inactive until the member is reaped (or leaves), so the
  // consumer keeps them programmed. weft-gossip sets this to false.
  bool reportDeadAsInactive = true;
};

struct NodeStats {
  uint64_t packetsSent = 0, bytesSent = 0;  // sealed sizes, datagrams and streams
  uint64_t packetsReceived = 0, bytesReceived = 0;
  uint64_t forged = 0;        // failed authentication (wrong key or forged)
  uint64_t replayed = 0;      // replayed, from a stale epoch, or not for this node (below)
  uint64_t misdirected = 0;   // sealed for another receiver (also counted in replayed)
  uint64_t staleSession = 0;  // sealed for an earlier boot of this node (also counted in replayed)
  uint64_t wrongLabel = 0;    // other cluster's label
  uint64_t malformed = 0;     // truncated, bad version, undecodable
  uint64_t recordsApplied = 0;
  uint64_t syncs = 0;  // stream syncs sent
  // By kind (Message's alternatives, messageTypeName): sent, and received
  // in authentic packets.
  std::array<uint64_t, kMessageTypes> messagesSent{}, messagesReceived{};
};

class GossipNode : private MembershipHost {
 public:
  // `epoch` identifies this boot (e.g. start time in microseconds); it must
  // grow across restarts. Record versions and replay windows derive from it.
  GossipNode(NodeConfig cfg, Keyring keyring, Transport& transport, Clock& clock, uint64_t seed,
             uint64_t epoch);
  ~GossipNode() override;
  GossipNode(const GossipNode&) = delete;
  GossipNode& operator=(const GossipNode&) = delete;

  void start();
  // Full state sync with the seeds over the stream transport.
  void join(const std::vector<std::string>& seedAddrs);
  void leave();
  void stop();  // stops timers and ignores input (a crash, for the simulator)

  // Local endpoints. Publishing sets owner, version and (if empty) vtep.
  void publish(EndpointRecord r);
  void withdraw(const std::string& network, const std::string& endpoint);

  std::vector<EndpointRecord> endpoints(const std::string& network) const;
  const EndpointRecord* findEndpoint(const std::string& network, const std::string& endpoint) const;
  const std::set<std::string>& networks() const { return localNetworks_; }
  // Whether this node believes `nodeId` carries `network`.
  bool carries(const std::string& nodeId, const std::string& network) const;
  const RecordTable& table() const { return table_; }
  const Membership& membership() const { return *membership_; }
  const NodeStats& stats() const { return stats_; }
  const std::string& id() const { return cfg_.id; }
  Keyring& keyring() { return keyring_; }
  size_t broadcastBacklog() const { return queue_.size(); }

  // Stream authentication for socket transports: a stream connection opens
  // with a small sealed hello (an envelope without messages) so the receiver
  // authenticates the peer before it accepts a frame larger than a datagram.
  std::vector<uint8_t> streamHello(const std::string& to);
  // Opens and replay-checks a hello (counted like any packet).
  StreamHello acceptStreamHello(const std::string& from, std::span<const uint8_t> hello);

  // Called when an endpoint becomes active/inactive on this node's view
  // (remote records only).
  std::function<void(const EndpointRecord&, bool active)> onRecordChange;
  // A member became unreachable (dead or left: false) or came back (true);
  // what cluster-wide IPAM times its grace period by.
  std::function<void(const std::string& id, bool alive)> onMemberChange;

 private:
  // MembershipHost
  void sendMessages(const std::string& addr, const std::string& nodeId, std::vector<Message> msgs) override;
  void broadcastMembership(const std::string& node, const Message& m) override;
  void memberChanged(const Member& m, MemberState previous, bool isNew) override;
  void memberReaped(const Member& m) override;

  void onPacket(const std::string& from, std::vector<uint8_t> data, bool stream);
  // Opens, decodes, checks the receiver binding and the replay window,
  // counting every failure. `verdict` (optional) says how a hello fared.
  std::optional<Envelope> openEnvelope(const std::string& from, std::span<const uint8_t> data, bool stream,
                                       StreamHello* verdict = nullptr);
  // A sender that sealed for an earlier boot of ours learns our epoch from
  // any packet of ours: answer with an empty envelope (at most once a second
  // per sender).
  void answerStaleSession(const std::string& from, const std::string& sender, bool stream);
  void dispatch(const std::string& from, const std::string& sender, Message& m);
  // `to` is the address; `nodeId` the receiver's id when the caller knows it.
  std::vector<uint8_t> sealEnvelope(const std::string& to, const std::string& nodeId,
                                    const std::vector<std::vector<uint8_t>>& framed);
  void sendFramed(const std::string& addr, const std::vector<std::vector<uint8_t>>& framed, bool stream,
                  const std::string& nodeId = "");
  void sendStreamMessage(const std::string& addr, const Message& m);

  void enqueue(std::string key, std::string network, const Message& m);
  void scheduleEagerPush();
  void gossipRound();
  void gossipTick();

  void applyNetworks(const Networks& n, bool rebroadcast = true);
  void announceNetworks();
  void applyRecord(const EndpointRecord& r, bool rebroadcast = true);
  void notifyRecord(const EndpointRecord& before, bool hadBefore, const EndpointRecord* after);
  void subscribe(const std::string& network);
  void unsubscribe(const std::string& network);

  void antiEntropyTick();
  void handleSummary(const std::string& sender, const DigestSummary& s);
  void handleDetail(const std::string& sender, const DigestDetail& d);
  void sendRecords(const std::string& addr, const std::vector<EndpointRecord>& records);
  Sync buildSync(bool reply, const std::vector<std::string>& recordNets,
                 const std::vector<std::string>& want) const;
  void handleSync(const std::string& sender, const Sync& s);
  void requestSync(const std::string& addr, std::vector<std::string> want);
  void expiryTick();
  std::string addrOf(const std::string& nodeId) const;
  // Member view plus who carries which networks: equal hashes, equal views.
  uint64_t viewHash() const;
  uint64_t networkRoot(const std::string& network);

  NodeConfig cfg_;
  Keyring keyring_;
  Transport& transport_;
  Clock& clock_;
  std::mt19937_64 rng_;
  uint64_t epoch_;
  uint64_t sendSeq_ = 0;
  uint64_t versionCounter_;
  bool running_ = false;

  std::unique_ptr<Membership> membership_;
  ReplayWindow replay_;
  std::map<std::string, uint64_t> peerEpochs_;  // by node id: its boot epoch, from its authentic packets
  std::map<std::string, Time> staleAnswered_;   // by node id: when answerStaleSession last answered
  std::map<std::string, std::string> addrIds_;  // member address -> node id
  BroadcastQueue queue_;
  RecordTable table_;
  std::map<std::pair<std::string, std::string>, EndpointRecord> local_;  // (network, endpoint)
  std::set<std::string> localNetworks_;
  std::map<std::string, Networks> peerNetworks_;  // by node
  // Dead owners not reported inactive, with their records as the consumer
  // last saw them (active): reconciled when the owner returns or is reaped.
  std::map<std::string, std::vector<EndpointRecord>> silentlySuspended_;
  uint64_t networksVersion_;
  Time lastMemberSync_{-1000000000000};
  std::map<std::string, std::pair<uint64_t, uint64_t>> rootCache_;  // network -> (generation, root)

  Clock::TimerId gossipTimer_ = 0, eagerTimer_ = 0, aeTimer_ = 0, expiryTimer_ = 0;
  NodeStats stats_;
};

}  // namespace weft::gossip
