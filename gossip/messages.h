#pragma once
// Gossip wire messages and the envelope that carries them. An envelope is the
// plaintext of one sealed packet or stream frame:
//   sender id | epoch(u64) | seq(u64) | count(u16) | message*
// and each message is  type(u8) | length(u16, or u32 when type has bit 0x80) | body.
// Unknown message types are skipped, malformed input is rejected, never
// asserted: decoders are bounds-checked throughout.

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/result.h"
#include "gossip/merge.h"
#include "gossip/record.h"

namespace weft::gossip {

inline constexpr size_t kMaxNameSize = 255;  // node ids, addresses, network/endpoint ids

enum class MemberState : uint8_t { kAlive = 0, kSuspect = 1, kDead = 2, kLeft = 3 };
const char* describe(MemberState s);

struct Ping {
  uint32_t seq = 0;
  std::string target;  // node id the sender means to reach
  bool operator==(const Ping&) const = default;
};
struct IndirectPing {
  uint32_t seq = 0;
  std::string target;
  std::string targetAddr;
  bool operator==(const IndirectPing&) const = default;
};
struct Ack {
  uint32_t seq = 0;
  bool operator==(const Ack&) const = default;
};
struct Nack {
  uint32_t seq = 0;
  bool operator==(const Nack&) const = default;
};
struct Alive {
  std::string node;
  std::string addr;
  uint64_t incarnation = 0;
  bool operator==(const Alive&) const = default;
};
struct Suspect {
  std::string node;
  uint64_t incarnation = 0;
  std::string from;
  bool operator==(const Suspect&) const = default;
};
struct Dead {
  std::string node;
  uint64_t incarnation = 0;
  std::string from;  // == node for a graceful leave
  bool operator==(const Dead&) const = default;
};
// The networks a node carries (has local endpoints on); newest version wins.
struct Networks {
  std::string node;
  uint64_t version = 0;
  std::vector<std::string> networks;
  bool operator==(const Networks&) const = default;
};
struct RecordUpdate {
  EndpointRecord record;
  bool operator==(const RecordUpdate& o) const { return record.sameWire(o.record); }
};
// Anti-entropy round, step 1: cheap summary.
struct DigestSummary {
  uint64_t memberHash = 0;
  std::vector<std::pair<std::string, uint64_t>> roots;  // network -> digestRoot
  bool operator==(const DigestSummary&) const = default;
};
// Step 2: per-owner digests of the networks whose roots differed. The
// receiver sends what the sender lacks, and unless `final` answers with its
// own detail so the exchange is push-pull.
struct DigestDetail {
  bool final = false;
  std::vector<std::pair<std::string, NetworkDigest>> networks;
  bool operator==(const DigestDetail&) const = default;
};
struct MemberEntry {
  std::string node;
  std::string addr;
  uint64_t incarnation = 0;
  MemberState state = MemberState::kAlive;
  bool operator==(const MemberEntry&) const = default;
};
// Full state exchange over the reliable stream (join, and repair when member
// views differ). A request is answered with reply = true.
struct Sync {
  bool reply = false;
  std::string addr;  // sender's advertised address
  std::vector<MemberEntry> members;
  std::vector<Networks> networks;
  std::vector<EndpointRecord> records;  // of the networks the receiver wants
  std::vector<std::string> want;        // networks whose records the sender wants
  bool operator==(const Sync& o) const;
};

using Message = std::variant<Ping, IndirectPing, Ack, Nack, Alive, Suspect, Dead, Networks, RecordUpdate,
                             DigestSummary, DigestDetail, Sync>;

// An envelope is bound to its receiver and to the receiver's boot, so a
// captured packet is good for one receiver process only: `receiver` is
// receiverTag() of the receiver's node id (or, while the sender does not
// know it, of the address it sends to); `receiverEpoch` is the receiver's boot
// epoch as the sender last heard it, 0 while it has heard none.
struct Envelope {
  std::string sender;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  std::vector<Message> messages;
  uint64_t receiver = 0;
  uint64_t receiverEpoch = 0;
};
uint64_t receiverTag(const std::string& nodeIdOrAddr);

// One message, framed (type, length, body), ready to be appended to a packet.
std::vector<uint8_t> encodeMessage(const Message& m);

// Message kinds, for counting: Message's alternatives in order.
inline constexpr size_t kMessageTypes = std::variant_size_v<Message>;
// "ping", "indirect_ping", ..., "sync" (the metrics' `type` label values).
const char* messageTypeName(size_t index);
// The kind of a framed message (encodeMessage's output) as an index into
// Message's alternatives, or kMessageTypes if the frame names none.
size_t framedMessageType(std::span<const uint8_t> framed);
// Header of an envelope; append `count` framed messages after it.
std::vector<uint8_t> encodeEnvelopeHeader(const std::string& sender, uint64_t epoch, uint64_t seq,
                                          uint16_t count, uint64_t receiver = 0, uint64_t receiverEpoch = 0);
size_t envelopeHeaderSize(const std::string& sender);
std::vector<uint8_t> encodeEnvelope(const Envelope& e);
Result<Envelope> decodeEnvelope(std::span<const uint8_t> data);

}  // namespace weft::gossip
