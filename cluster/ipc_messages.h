#pragma once
// The weft-plugin <-> weft-gossip protocol: one struct per message, one
// encoder and one decoder for each, shared by both processes so the schema
// is written once. On the wire every message is one JSON object whose "op"
// (plugin -> sidecar) or "event" (sidecar -> plugin) names its kind.
//
// A sidecar's life, as the plugin sees it:
//   plugin:  ConfigMsg, then one PublishMsg per local endpoint, then StartMsg
//            (so the join already says which networks this node carries, and
//            no message grows with the number of endpoints)
//   sidecar: ReadyEvent, then RecordEvents as remote endpoints come and go
//   plugin:  PublishMsg / WithdrawMsg / SeedsMsg / StatusRequest / PingMsg
//            at any time after ReadyEvent
//   sidecar: StatusEvent for each StatusRequest, PongEvent for each PingMsg;
//            ErrorEvent before it exits
//
// Decoding is validation. The sidecar parses untrusted packets and is the
// part privilege separation assumes may be compromised, so the privileged
// plugin accepts from it only messages whose every field has the right
// type, a bounded size and, for addresses, a valid form; anything else is
// an Error, never an exception.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"

namespace weft::cluster::ipc {

// One endpoint as it travels. `network` is the network's cluster identity.
struct Record {
  std::string network;
  std::string endpoint;
  std::string ipv4;  // CIDR ("10.0.0.2/24") or empty
  std::string ipv6;  // CIDR or empty
  std::string mac;   // "02:42:0a:00:00:02"
  std::string vtep;  // the owner's underlay address
  bool operator==(const Record&) const = default;
};

// One host's lease of one block of a cluster-wide IPAM pool (the driver's
// LeaseClaim, see driver/ipam_blocks.h) as it travels.
struct Lease {
  std::string pool;  // the pool's CIDR: its cluster identity
  uint32_t block = 0;
  std::string owner;  // node id; empty from the plugin (the sidecar's own id)
  uint64_t claimedAt = 0;
  bool used = false;
  bool released = false;
  std::string takeoverOf;  // "<owner>@<claimedAt>" or empty
  bool operator==(const Lease&) const = default;
};
// Blocks per pool at most (driver::kMaxBlocks): a lease of a higher block is
// refused at decoding.
inline constexpr uint32_t kMaxLeaseBlocks = 4096;

// One endpoint's names (issue 12, names across hosts) as they travel: the
// container's name, its aliases and compose service on one network.
// `network` is the network's cluster identity; the addresses are the
// endpoint's own (the receiver answers a name only while the endpoint
// record of the same owner has them).
struct Names {
  std::string network;
  std::string endpoint;
  std::string owner;  // node id; empty from the plugin (the sidecar's own id)
  std::string ipv4;   // address without length, or empty
  std::string ipv6;
  std::vector<std::string> names;  // DNS names (common/dns_name.h)
  bool operator==(const Names&) const = default;
};
// Bounds of one Names: its names, and their total size as gossip carries
// them (joined by ',', in one 255-byte field of a record).
inline constexpr size_t kMaxNamesPerSet = 16;
inline constexpr size_t kMaxNamesBytes = 255;
// Whether names fit in one record (kMaxNamesPerSet, kMaxNamesBytes).
bool namesFit(const std::vector<std::string>& names);

// One host's multicast listeners on one network (issue 14; the driver's
// McastAdvert) as they travel. `network` is the network's cluster identity.
struct Mcast {
  std::string network;
  std::string owner;                // node id; empty from the plugin (the sidecar's own id)
  std::string vtep;                 // the owner's VTEP address
  std::vector<std::string> groups;  // multicast group addresses
  bool all = false;                 // the owner wants every group
  bool operator==(const Mcast&) const = default;
};
// Groups one Mcast carries at most, per family (what one gossip record
// holds; driver::kMaxMcastV4Groups/kMaxMcastV6Groups are the same).
inline constexpr size_t kMaxMcastV4 = 31;
inline constexpr size_t kMaxMcastV6 = 7;
// Why `m`'s groups are not what a Mcast may carry (not multicast addresses,
// repeated, past the limits), or empty.
std::string mcastGroupsProblem(const Mcast& m);

// ---- plugin -> sidecar ----

struct ConfigMsg {
  std::string id;                  // node id (the advertise address)
  std::string bind;                // "ip:port"
  std::string advertise;           // "ip:port"
  std::string label;               // cluster label sealed into every packet
  std::vector<std::string> keys;   // base64, primary first
  std::vector<std::string> seeds;  // "ip:port"
  bool operator==(const ConfigMsg&) const = default;
};
struct PublishMsg {
  Record record;
  bool operator==(const PublishMsg&) const = default;
};
struct StartMsg {  // the configuration is complete: join and answer ReadyEvent
  bool operator==(const StartMsg&) const = default;
};
struct WithdrawMsg {
  std::string network;
  std::string endpoint;
  bool operator==(const WithdrawMsg&) const = default;
};
struct SeedsMsg {  // join through more seeds
  std::vector<std::string> seeds;
  bool operator==(const SeedsMsg&) const = default;
};
struct StatusRequest {
  bool operator==(const StatusRequest&) const = default;
};
// Liveness: the sidecar's event loop answers each with a PongEvent of the
// same seq, so an answer proves the loop still turns (not merely that the
// process exists): a stopped, deadlocked or livelocked sidecar stays silent
// and the supervisor replaces it.
struct PingMsg {
  uint64_t seq = 0;
  bool operator==(const PingMsg&) const = default;
};
// Publishes (or withdraws, by pool and block) one of this host's leases.
struct LeaseMsg {
  Lease lease;
  bool withdraw = false;
  bool operator==(const LeaseMsg&) const = default;
};
// Publishes (or withdraws, by network and endpoint) one local endpoint's names.
struct NamesMsg {
  Names names;
  bool withdraw = false;
  bool operator==(const NamesMsg&) const = default;
};
// Publishes (or withdraws, by network) this host's multicast listeners on a network.
struct McastMsg {
  Mcast mcast;
  bool withdraw = false;
  bool operator==(const McastMsg&) const = default;
};
using ToSidecar = std::variant<ConfigMsg, PublishMsg, StartMsg, WithdrawMsg, SeedsMsg, StatusRequest, PingMsg,
                               LeaseMsg, NamesMsg, McastMsg>;

// ---- sidecar -> plugin ----

struct ReadyEvent {
  std::string id;
  std::string keyFingerprint;
  bool operator==(const ReadyEvent&) const = default;
};
struct RecordEvent {
  bool active = false;  // false: the endpoint went away
  Record record;
  std::string owner;  // node id of the owner
  bool operator==(const RecordEvent&) const = default;
};
struct MemberInfo {
  std::string id;
  std::string addr;
  std::string state;
  uint64_t incarnation = 0;
  bool operator==(const MemberInfo&) const = default;
};
struct StatusEvent {
  std::string id;
  uint64_t aloneSeconds = 0;
  std::string keyFingerprint;
  std::vector<MemberInfo> members;
  std::vector<std::string> networks;
  std::map<std::string, uint64_t> authFailuresByHost;
  std::map<std::string, uint64_t> stats;  // counter name -> value
  uint64_t restarts = 0;                  // sidecar restarts: filled in by the plugin, 0 from the sidecar
  // Peers (ip:port) that refused this host's streams: another cluster key.
  std::map<std::string, uint64_t> refusedBy;
  // Why this host authenticates with nobody, naming the hosts; empty if not.
  std::string authProblem;
  bool operator==(const StatusEvent&) const = default;
};
struct ErrorEvent {  // fatal: the sidecar exits after it
  std::string message;
  bool operator==(const ErrorEvent&) const = default;
};
struct PongEvent {
  uint64_t seq = 0;
  bool operator==(const PongEvent&) const = default;
};
// Another host's lease appeared or changed (active) or went away.
struct LeaseEvent {
  bool active = false;
  Lease lease;
  bool operator==(const LeaseEvent&) const = default;
};
// A member became unreachable (dead or left: alive false) or came back.
struct MemberEvent {
  std::string id;
  bool alive = false;
  bool operator==(const MemberEvent&) const = default;
};
// Another host's endpoint names appeared or changed (active) or went away.
struct NamesEvent {
  bool active = false;
  Names names;
  bool operator==(const NamesEvent&) const = default;
};
// Another host's multicast listeners on a network appeared or changed
// (active) or went away.
struct McastEvent {
  bool active = false;
  Mcast mcast;
  bool operator==(const McastEvent&) const = default;
};
using FromSidecar = std::variant<ReadyEvent, RecordEvent, StatusEvent, ErrorEvent, PongEvent, LeaseEvent,
                                 MemberEvent, NamesEvent, McastEvent>;

// Bounds a decoder enforces (an encoder's input is trusted).
inline constexpr size_t kMaxName = 256;   // ids, network identities, labels, hosts
inline constexpr size_t kMaxText = 4096;  // free text (error messages)
inline constexpr size_t kMaxList = 4096;  // members, seeds, networks, hosts, keys
inline constexpr size_t kMaxNesting = 8;  // JSON depth of any message
inline constexpr size_t kMaxEndpointId = 128;

std::string encode(const ToSidecar& m);
std::string encode(const FromSidecar& m);
Result<ToSidecar> decodeToSidecar(std::string_view text);
Result<FromSidecar> decodeFromSidecar(std::string_view text);

// Field checks the decoders use, for whoever builds messages.
bool validIp(std::string_view s);
bool validCidr(std::string_view s, bool v6);
bool validMac(std::string_view s);
bool validHostPort(std::string_view s);  // "ip:port" or "[ipv6]:port"
bool validEndpointId(std::string_view s);

}  // namespace weft::cluster::ipc
