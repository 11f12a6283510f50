#pragma once
// One direction of one host pair on one network, as each end holds it:
// TxSession seals what this host sends to the peer, RxSession opens what the
// peer sends here.
//
// Rotation is make-before-break without a message exchange: every epoch's
// key is derivable by both ends (keys.h). The sender moves to epoch + 1 after
// RekeyPolicy::maxPackets packets or maxAge, whichever comes first. The
// receiver holds the next epoch's key ready before it is used; the first
// authenticated packet of a newer epoch makes it current, and the old key
// stays accepted for RekeyPolicy::overlap so packets in flight or reordered
// across the switch are not lost. A newer epoch further ahead (the sender
// restarted with a fresh start epoch) is accepted the same way, once it
// authenticates.
//
// A sender must never start at an epoch it has used before under the same
// material (the caller persists or otherwise guarantees that), since the
// sequence restarts at 1 with each epoch.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/result.h"
#include "datapath/aead.h"
#include "datapath/keys.h"
#include "datapath/replay_window.h"
#include "datapath/wire.h"

namespace weft::datapath {

using Clock = std::chrono::steady_clock;
using Frames = std::span<const std::span<const uint8_t>>;

class TxSession {
 public:
  // `dir.from` is this host. Fails on invalid material, ids, vni or policy.
  static Result<TxSession> create(std::vector<uint8_t> material, Direction dir, uint32_t vni,
                                  uint32_t senderId, uint32_t startEpoch, RekeyPolicy policy,
                                  Clock::time_point now);

  // Seals `frames` (one, or a batch) into `out`; returns the packet's size.
  // Errors (nothing sent, sequence not used): frames outside the limits
  // (EINVAL), `out` too small (EMSGSIZE), key epochs exhausted (EKEYEXPIRED).
  Result<size_t> seal(Frames frames, std::span<uint8_t> out, Clock::time_point now);

  // Moves to the next key epoch now (weftctl crypto rotate), as a rotation
  // by count or age would: the receiver holds that key ready, so nothing in
  // flight is lost. EKEYEXPIRED when the epochs are used up.
  Status rotate(Clock::time_point now);

  uint32_t epoch() const { return epoch_; }
  uint64_t lastSequence() const { return seq_; }
  uint64_t rekeys() const { return rekeys_; }

 private:
  TxSession(std::vector<uint8_t> material, Direction dir, uint32_t vni, uint32_t senderId, uint32_t epoch,
            RekeyPolicy policy, Clock::time_point now, AeadKey key);
  Status rotateIfDue(Clock::time_point now);

  std::vector<uint8_t> material_;
  Direction dir_;
  uint32_t vni_, senderId_, epoch_;
  RekeyPolicy policy_;
  Clock::time_point keySince_;
  AeadKey key_;
  uint64_t seq_ = 0;  // last sequence used under key_
  uint64_t rekeys_ = 0;
};

enum class OpenError {
  kNone,
  kStaleKey,        // epoch older than the current one (beyond the overlap) or below the minimum
  kReplayed,        // duplicate, or behind the window
  kAuthFailed,      // tag mismatch
  kMalformedInner,  // authenticated plaintext breaks the frame limits
};
const char* describe(OpenError e);

class RxSession {
 public:
  // `dir.from` is the peer, `dir.to` this host. Epochs below `minEpoch` are
  // never accepted.
  static Result<RxSession> create(std::vector<uint8_t> material, Direction dir, RekeyPolicy policy,
                                  uint32_t minEpoch);

  // Opens a packet whose header decodeHeader() accepted (vni and sender
  // already matched to this session). Decrypts in place; on success `frames`
  // point into `packet`.
  OpenError open(const Header& h, std::span<uint8_t> packet, std::vector<std::span<const uint8_t>>* frames,
                 Clock::time_point now);

  std::optional<uint32_t> currentEpoch() const;
  std::optional<uint32_t> previousEpoch(Clock::time_point now) const;

 private:
  struct Slot {
    uint32_t epoch;
    AeadKey key;
    ReplayWindow window;
    Clock::time_point expires;  // previous slot only
  };
  struct Pending {  // a derived key not yet authenticated against
    uint32_t epoch;
    AeadKey key;
  };
  RxSession(std::vector<uint8_t> material, Direction dir, RekeyPolicy policy, uint32_t minEpoch);
  AeadKey* keyFor(uint32_t epoch);  // derives into pending_ when needed
  void promote(uint32_t epoch, uint64_t seq, Clock::time_point now);

  std::vector<uint8_t> material_;
  Direction dir_;
  RekeyPolicy policy_;
  uint32_t minEpoch_;
  std::optional<Slot> current_, previous_;
  std::optional<Pending> pending_;  // usually current + 1, derived ahead
};

}  // namespace weft::datapath
