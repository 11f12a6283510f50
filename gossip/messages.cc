#include "gossip/messages.h"

#include <iterator>

#include "gossip/codec.h"
#include "gossip/merge.h"

namespace weft::gossip {
namespace {

constexpr uint8_t kLongFrame = 0x80;

// Type tags on the wire; never reuse a number.
enum Tag : uint8_t {
  kPing = 1,
  kIndirectPing = 2,
  kAck = 3,
  kNack = 4,
  kAlive = 5,
  kSuspect = 6,
  kDead = 7,
  kNetworks = 8,
  kRecord = 9,
  kDigestSummary = 10,
  kDigestDetail = 11,
  kSync = 12,
};

void putRecord(ByteWriter& w, const EndpointRecord& r) {
  w.str(r.network);
  w.str(r.endpoint);
  w.str(r.ipv4);
  w.str(r.ipv6);
  w.str(r.mac);
  w.str(r.vtep);
  w.str(r.owner);
  w.u64(r.version);
  w.u8(r.deleted ? 1 : 0);
}
bool getRecord(ByteReader& r, EndpointRecord* out) {
  r.str(&out->network, kMaxNameSize);
  r.str(&out->endpoint, kMaxNameSize);
  r.str(&out->ipv4, kMaxNameSize);
  r.str(&out->ipv6, kMaxNameSize);
  r.str(&out->mac, kMaxNameSize);
  r.str(&out->vtep, kMaxNameSize);
  r.str(&out->owner, kMaxNameSize);
  r.u64(&out->version);
  r.boolean(&out->deleted);
  return r.ok();
}
constexpr size_t kMinRecordSize = 7 * 2 + 8 + 1;

void putNetworks(ByteWriter& w, const Networks& n) {
  w.str(n.node);
  w.u64(n.version);
  w.u16(static_cast<uint16_t>(n.networks.size()));
  for (const auto& s : n.networks) w.str(s);
}
bool getNetworks(ByteReader& r, Networks* n) {
  r.str(&n->node, kMaxNameSize);
  r.u64(&n->version);
  uint16_t c = 0;
  if (!r.count(&c, 2)) return false;
  n->networks.resize(c);
  for (auto& s : n->networks) r.str(&s, kMaxNameSize);
  return r.ok();
}
constexpr size_t kMinNetworksSize = 2 + 8 + 2;

void putDigest(ByteWriter& w, const NetworkDigest& d) {
  w.u16(static_cast<uint16_t>(d.size()));
  for (const auto& [owner, od] : d) {
    w.str(owner);
    w.u64(od.maxVersion);
    w.u64(od.hash);
  }
}
bool getDigest(ByteReader& r, NetworkDigest* d) {
  uint16_t c = 0;
  if (!r.count(&c, 2 + 16)) return false;
  for (uint16_t i = 0; i < c && r.ok(); ++i) {
    std::string owner;
    OwnerDigest od;
    r.str(&owner, kMaxNameSize);
    r.u64(&od.maxVersion);
    r.u64(&od.hash);
    (*d)[owner] = od;
  }
  return r.ok();
}

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

uint8_t encodeBody(ByteWriter& w, const Message& m) {
  return std::visit(Overloaded{
                        [&](const Ping& p) {
                          w.u32(p.seq);
                          w.str(p.target);
                          return kPing;
                        },
                        [&](const IndirectPing& p) {
                          w.u32(p.seq);
                          w.str(p.target);
                          w.str(p.targetAddr);
                          return kIndirectPing;
                        },
                        [&](const Ack& a) {
                          w.u32(a.seq);
                          return kAck;
                        },
                        [&](const Nack& a) {
                          w.u32(a.seq);
                          return kNack;
                        },
                        [&](const Alive& a) {
                          w.str(a.node);
                          w.str(a.addr);
                          w.u64(a.incarnation);
                          return kAlive;
                        },
                        [&](const Suspect& s) {
                          w.str(s.node);
                          w.u64(s.incarnation);
                          w.str(s.from);
                          return kSuspect;
                        },
                        [&](const Dead& s) {
                          w.str(s.node);
                          w.u64(s.incarnation);
                          w.str(s.from);
                          return kDead;
                        },
                        [&](const Networks& n) {
                          putNetworks(w, n);
                          return kNetworks;
                        },
                        [&](const RecordUpdate& r) {
                          putRecord(w, r.record);
                          return kRecord;
                        },
                        [&](const DigestSummary& d) {
                          w.u64(d.memberHash);
                          w.u16(static_cast<uint16_t>(d.roots.size()));
                          for (const auto& [net, root] : d.roots) {
                            w.str(net);
                            w.u64(root);
                          }
                          return kDigestSummary;
                        },
                        [&](const DigestDetail& d) {
                          w.u8(d.final ? 1 : 0);
                          w.u16(static_cast<uint16_t>(d.networks.size()));
                          for (const auto& [net, digest] : d.networks) {
                            w.str(net);
                            putDigest(w, digest);
                          }
                          return kDigestDetail;
                        },
                        [&](const Sync& s) {
                          w.u8(s.reply ? 1 : 0);
                          w.str(s.addr);
                          w.u16(static_cast<uint16_t>(s.members.size()));
                          for (const auto& m : s.members) {
                            w.str(m.node);
                            w.str(m.addr);
                            w.u64(m.incarnation);
                            w.u8(static_cast<uint8_t>(m.state));
                          }
                          w.u16(static_cast<uint16_t>(s.networks.size()));
                          for (const auto& n : s.networks) putNetworks(w, n);
                          w.u16(static_cast<uint16_t>(s.records.size()));
                          for (const auto& r : s.records) putRecord(w, r);
                          w.u16(static_cast<uint16_t>(s.want.size()));
                          for (const auto& n : s.want) w.str(n);
                          return kSync;
                        },
                    },
                    m);
}

// Returns false on malformed body; *known=false for an unknown tag.
bool decodeBody(uint8_t tag, ByteReader& r, Message* out, bool* known) {
  *known = true;
  switch (tag) {
    case kPing: {
      Ping p;
      r.u32(&p.seq);
      r.str(&p.target, kMaxNameSize);
      *out = std::move(p);
      break;
    }
    case kIndirectPing: {
      IndirectPing p;
      r.u32(&p.seq);
      r.str(&p.target, kMaxNameSize);
      r.str(&p.targetAddr, kMaxNameSize);
      *out = std::move(p);
      break;
    }
    case kAck: {
      Ack a;
      r.u32(&a.seq);
      *out = a;
      break;
    }
    case kNack: {
      Nack a;
      r.u32(&a.seq);
      *out = a;
      break;
    }
    case kAlive: {
      Alive a;
      r.str(&a.node, kMaxNameSize);
      r.str(&a.addr, kMaxNameSize);
      r.u64(&a.incarnation);
      *out = std::move(a);
      break;
    }
    case kSuspect: {
      Suspect s;
      r.str(&s.node, kMaxNameSize);
      r.u64(&s.incarnation);
      r.str(&s.from, kMaxNameSize);
      *out = std::move(s);
      break;
    }
    case kDead: {
      Dead s;
      r.str(&s.node, kMaxNameSize);
      r.u64(&s.incarnation);
      r.str(&s.from, kMaxNameSize);
      *out = std::move(s);
      break;
    }
    case kNetworks: {
      Networks n;
      getNetworks(r, &n);
      *out = std::move(n);
      break;
    }
    case kRecord: {
      RecordUpdate u;
      getRecord(r, &u.record);
      *out = std::move(u);
      break;
    }
    case kDigestSummary: {
      DigestSummary d;
      r.u64(&d.memberHash);
      uint16_t c = 0;
      if (!r.count(&c, 2 + 8)) return false;
      d.roots.resize(c);
      for (auto& [net, root] : d.roots) {
        r.str(&net, kMaxNameSize);
        r.u64(&root);
      }
      *out = std::move(d);
      break;
    }
    case kDigestDetail: {
      DigestDetail d;
      r.boolean(&d.final);
      uint16_t c = 0;
      if (!r.count(&c, 2 + 2)) return false;
      d.networks.resize(c);
      for (auto& [net, digest] : d.networks) {
        r.str(&net, kMaxNameSize);
        if (!getDigest(r, &digest)) return false;
      }
      *out = std::move(d);
      break;
    }
    case kSync: {
      Sync s;
      r.boolean(&s.reply);
      r.str(&s.addr, kMaxNameSize);
      uint16_t c = 0;
      if (!r.count(&c, 2 + 2 + 8 + 1)) return false;
      s.members.resize(c);
      for (auto& m : s.members) {
        uint8_t st = 0;
        r.str(&m.node, kMaxNameSize);
        r.str(&m.addr, kMaxNameSize);
        r.u64(&m.incarnation);
        r.u8(&st);
        if (st > static_cast<uint8_t>(MemberState::kLeft)) return false;
        m.state = static_cast<MemberState>(st);
      }
      if (!r.count(&c, kMinNetworksSize)) return false;
      s.networks.resize(c);
      for (auto& n : s.networks)
        if (!getNetworks(r, &n)) return false;
      if (!r.count(&c, kMinRecordSize)) return false;
      s.records.resize(c);
      for (auto& rec : s.records)
        if (!getRecord(r, &rec)) return false;
      if (!r.count(&c, 2)) return false;
      s.want.resize(c);
      for (auto& n : s.want) r.str(&n, kMaxNameSize);
      *out = std::move(s);
      break;
    }
    default:
      *known = false;
      return true;
  }
  return r.ok() && r.atEnd();
}

}  // namespace

const char* describe(MemberState s) {
  switch (s) {
    case MemberState::kAlive:
      return "alive";
    case MemberState::kSuspect:
      return "suspect";
    case MemberState::kDead:
      return "dead";
    case MemberState::kLeft:
      return "left";
  }
  return "unknown";
}

bool Sync::operator==(const Sync& o) const {
  if (reply != o.reply || addr != o.addr || members != o.members || networks != o.networks ||
      want != o.want || records.size() != o.records.size())
    return false;
  for (size_t i = 0; i < records.size(); ++i)
    if (!records[i].sameWire(o.records[i])) return false;
  return true;
}

std::vector<uint8_t> encodeMessage(const Message& m) {
  ByteWriter body;
  uint8_t tag = encodeBody(body, m);
  ByteWriter w;
  if (body.size() <= 0xffff) {
    w.u8(tag);
    w.u16(static_cast<uint16_t>(body.size()));
  } else {
    w.u8(tag | kLongFrame);
    w.u32(static_cast<uint32_t>(body.size()));
  }
  w.bytes(body.buffer());
  return w.take();
}

const char* messageTypeName(size_t index) {
  static const char* const kNames[] = {"ping",   "indirect_ping",  "ack",           "nack",
                                       "alive",  "suspect",        "dead",          "networks",
                                       "record", "digest_summary", "digest_detail", "sync"};
  static_assert(std::size(kNames) == kMessageTypes);
  return index < kMessageTypes ? kNames[index] : "unknown";
}

size_t framedMessageType(std::span<const uint8_t> framed) {
  if (framed.empty()) return kMessageTypes;
  size_t tag = framed[0] & ~kLongFrame;
  return tag >= kPing && tag <= kSync ? tag - kPing : kMessageTypes;  // tags are the index + 1
}

uint64_t receiverTag(const std::string& nodeIdOrAddr) { return fnv1a(0xcbf29ce484222325ull, nodeIdOrAddr); }

std::vector<uint8_t> encodeEnvelopeHeader(const std::string& sender, uint64_t epoch, uint64_t seq,
                                          uint16_t count, uint64_t receiver, uint64_t receiverEpoch) {
  ByteWriter w;
  w.str(sender);
  w.u64(epoch);
  w.u64(seq);
  w.u64(receiver);
  w.u64(receiverEpoch);
  w.u16(count);
  return w.take();
}

size_t envelopeHeaderSize(const std::string& sender) { return 2 + sender.size() + 8 + 8 + 8 + 8 + 2; }

std::vector<uint8_t> encodeEnvelope(const Envelope& e) {
  std::vector<uint8_t> out = encodeEnvelopeHeader(
      e.sender, e.epoch, e.seq, static_cast<uint16_t>(e.messages.size()), e.receiver, e.receiverEpoch);
  for (const auto& m : e.messages) {
    auto b = encodeMessage(m);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

Result<Envelope> decodeEnvelope(std::span<const uint8_t> data) {
  ByteReader r(data);
  Envelope e;
  uint16_t count = 0;
  r.str(&e.sender, kMaxNameSize);
  r.u64(&e.epoch);
  r.u64(&e.seq);
  r.u64(&e.receiver);
  r.u64(&e.receiverEpoch);
  if (!r.count(&count, 3) || e.sender.empty()) return Error{EBADMSG, "gossip: malformed envelope header"};
  for (uint16_t i = 0; i < count; ++i) {
    uint8_t tag = 0;
    uint32_t len = 0;
    if (!r.u8(&tag)) return Error{EBADMSG, "gossip: truncated message header"};
    if (tag & kLongFrame) {
      r.u32(&len);
    } else {
      uint16_t l16 = 0;
      r.u16(&l16);
      len = l16;
    }
    std::span<const uint8_t> body;
    if (!r.bytes(len, &body)) return Error{EBADMSG, "gossip: message " + std::to_string(i) + " truncated"};
    ByteReader br(body);
    Message m;
    bool known = false;
    if (!decodeBody(tag & ~kLongFrame, br, &m, &known))
      return Error{EBADMSG, "gossip: malformed message of type " + std::to_string(tag & ~kLongFrame)};
    if (known) e.messages.push_back(std::move(m));
  }
  if (!r.atEnd()) return Error{EBADMSG, "gossip: trailing bytes after messages"};
  return e;
}

}  // namespace weft::gossip
