#include "datapath/session.h"

#include <limits>
#include <utility>

namespace weft::datapath {

const char* describe(OpenError e) {
  switch (e) {
    case OpenError::kNone:
      return "ok";
    case OpenError::kStaleKey:
      return "key epoch no longer accepted";
    case OpenError::kReplayed:
      return "replayed or too old sequence number";
    case OpenError::kAuthFailed:
      return "authentication failed (forged, altered or wrong key)";
    case OpenError::kMalformedInner:
      return "authenticated payload breaks the frame limits";
  }
  return "unknown";
}

// --- TxSession ---

TxSession::TxSession(std::vector<uint8_t> material, Direction dir, uint32_t vni, uint32_t senderId,
                     uint32_t epoch, RekeyPolicy policy, Clock::time_point now, AeadKey key)
    : material_(std::move(material)),
      dir_(std::move(dir)),
      vni_(vni),
      senderId_(senderId),
      epoch_(epoch),
      policy_(policy),
      keySince_(now),
      key_(std::move(key)) {}

Result<TxSession> TxSession::create(std::vector<uint8_t> material, Direction dir, uint32_t vni,
                                    uint32_t senderId, uint32_t startEpoch, RekeyPolicy policy,
                                    Clock::time_point now) {
  if (vni > kMaxVni) return Error{EINVAL, "datapath: vni " + std::to_string(vni) + " is not a 24-bit value"};
  if (auto s = validate(policy); !s) return s.error();
  auto key = deriveKey(material, dir, startEpoch);
  if (!key) return key.error();
  return TxSession(std::move(material), std::move(dir), vni, senderId, startEpoch, policy, now,
                   AeadKey(*key));
}

Status TxSession::rotateIfDue(Clock::time_point now) {
  if (seq_ < policy_.maxPackets && now - keySince_ < policy_.maxAge) return Status::Ok();
  return rotate(now);
}

Status TxSession::rotate(Clock::time_point now) {
  if (epoch_ == std::numeric_limits<uint32_t>::max())
    return Error{EKEYEXPIRED, "datapath: key epochs exhausted for " + dir_.from + " -> " + dir_.to +
                                  "; the network needs new key material"};
  auto key = deriveKey(material_, dir_, epoch_ + 1);
  if (!key) return key.error();
  key_ = AeadKey(*key);
  ++epoch_;
  seq_ = 0;
  keySince_ = now;
  ++rekeys_;
  return Status::Ok();
}

Result<size_t> TxSession::seal(Frames frames, std::span<uint8_t> out, Clock::time_point now) {
  const size_t inner = innerSize(frames);
  if (inner == 0)
    return Error{EINVAL, "datapath: 1 to " + std::to_string(kMaxBatchFrames) + " frames of " +
                             std::to_string(kMinFrameSize) + " to " + std::to_string(kMaxFrameSize) +
                             " bytes each can be sealed"};
  const size_t total = kOverhead + inner;
  if (total > out.size() || total > kMaxPacketSize)
    return Error{EMSGSIZE, "datapath: sealed packet of " + std::to_string(total) + " bytes does not fit in " +
                               std::to_string(std::min(out.size(), kMaxPacketSize))};
  if (auto s = rotateIfDue(now); !s) return s.error();
  // The sequence is consumed before sealing: even a failed seal never lets
  // a nonce be used twice.
  Header h{.flags = 0, .vni = vni_, .senderId = senderId_, .keyEpoch = epoch_, .sequence = ++seq_};
  uint8_t* body = out.data() + kHeaderSize;
  // One frame is its own plaintext (no batch encoding): encrypted from where
  // it lies straight into `out`, not copied there first. A batch is encoded
  // in `out` and encrypted in place.
  std::span<const uint8_t> plaintext = frames[0];
  if (frames.size() > 1) {
    h.flags = encodeInner(frames, std::span<uint8_t>(body, inner));
    plaintext = std::span<const uint8_t>(body, inner);
  }
  encodeHeader(h, out.first<kHeaderSize>());
  if (!key_.seal(dir_.index(), h.sequence, out.first(kHeaderSize), plaintext, body, body + inner))
    return Error{0, "datapath: AES-GCM encryption failed in OpenSSL"};
  return total;
}

// --- RxSession ---

RxSession::RxSession(std::vector<uint8_t> material, Direction dir, RekeyPolicy policy, uint32_t minEpoch)
    : material_(std::move(material)), dir_(std::move(dir)), policy_(policy), minEpoch_(minEpoch) {}

Result<RxSession> RxSession::create(std::vector<uint8_t> material, Direction dir, RekeyPolicy policy,
                                    uint32_t minEpoch) {
  if (auto s = validate(material, dir); !s) return s.error();
  if (auto s = validate(policy); !s) return s.error();
  RxSession rx(std::move(material), std::move(dir), policy, minEpoch);
  // The first key the peer will use, ready before its first packet.
  rx.keyFor(minEpoch);
  return rx;
}

std::optional<uint32_t> RxSession::currentEpoch() const {
  return current_ ? std::optional(current_->epoch) : std::nullopt;
}

std::optional<uint32_t> RxSession::previousEpoch(Clock::time_point now) const {
  return previous_ && now < previous_->expires ? std::optional(previous_->epoch) : std::nullopt;
}

AeadKey* RxSession::keyFor(uint32_t epoch) {
  if (pending_ && pending_->epoch == epoch) return &pending_->key;
  auto key = deriveKey(material_, dir_, epoch);
  if (!key) return nullptr;
  pending_.emplace(Pending{epoch, AeadKey(*key)});
  return &pending_->key;
}

void RxSession::promote(uint32_t epoch, uint64_t seq, Clock::time_point now) {
  AeadKey key = std::move(pending_->key);
  pending_.reset();
  if (current_)
    previous_.emplace(
        Slot{current_->epoch, std::move(current_->key), current_->window, now + policy_.overlap});
  current_.emplace(Slot{epoch, std::move(key), ReplayWindow{}, {}});
  current_->window.accept(seq);
  // Make before break: the sender's next key is ready before it is used.
  if (epoch < std::numeric_limits<uint32_t>::max()) keyFor(epoch + 1);
}

OpenError RxSession::open(const Header& h, std::span<uint8_t> packet,
                          std::vector<std::span<const uint8_t>>* frames, Clock::time_point now) {
  frames->clear();
  if (h.keyEpoch < minEpoch_) return OpenError::kStaleKey;
  Slot* slot = nullptr;
  if (current_ && h.keyEpoch == current_->epoch) {
    slot = &*current_;
  } else if (previous_ && h.keyEpoch == previous_->epoch) {
    if (now >= previous_->expires) return OpenError::kStaleKey;
    slot = &*previous_;
  } else if (current_ && h.keyEpoch < current_->epoch) {
    return OpenError::kStaleKey;
  }
  AeadKey* key = nullptr;
  if (slot) {
    if (slot->window.check(h.sequence) != ReplayVerdict::kFresh) return OpenError::kReplayed;
    key = &slot->key;
  } else {
    // A newer epoch: its key is derived (usually ahead of time), and it
    // becomes current only once a packet authenticates under it.
    key = keyFor(h.keyEpoch);
    if (!key) return OpenError::kAuthFailed;
  }
  const auto body = packet.subspan(kHeaderSize, packet.size() - kOverhead);
  const uint8_t* tag = packet.data() + packet.size() - kTagSize;
  if (!key->open(dir_.index(), h.sequence, packet.first(kHeaderSize), body, tag, body.data()))
    return OpenError::kAuthFailed;
  if (slot)
    slot->window.accept(h.sequence);
  else
    promote(h.keyEpoch, h.sequence, now);
  if (parseInner(h.flags, body, frames) != InnerError::kNone) return OpenError::kMalformedInner;
  return OpenError::kNone;
}

}  // namespace weft::datapath
