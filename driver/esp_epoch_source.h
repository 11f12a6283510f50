#pragma once
// The key epochs of the kernel ESP backend (issue 11), as the plane
// (driver/kernel_plane.h) asks for them. The agreement between hosts is
// driver/esp_epochs.h (EspEpochBook, fed by gossip records); this is the seam
// between the two.
//
// Epochs are directional. The SAs of direction A -> B (A's outbound, B's
// inbound) are at an epoch A chose: A's "current" epoch, one for all its
// peers at a time, published over the encrypted gossip. A's epochs only ever
// grow and are recorded durably before use, so A never creates an outbound SA
// at an epoch it used with that peer before -- a re-created SA restarts its
// sequence numbers under the same key, and AES-GCM nonces would repeat.
//
// B accepts A's current epoch AND the next one (current + 1) ahead of time,
// so A's rotation needs no round trip: A installs its outbound SA at
// current + 1, moves the policy to it (make before break: B already has the
// inbound SA), publishes current + 1; B then adds current + 2 and drops the
// previous epoch after a grace period that covers packets in flight. A
// rotates again only after a minimum interval in which its peers learnt the
// previous rotation.
//
// Across restarts of weft-plugin the kernel keeps the SAs and policies and
// the plane adopts them (their sequence numbers run on in the kernel); after
// a reboot they are gone, and the host starts at an epoch it never used.

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "common/result.h"

namespace weft::driver {

class EspEpochSource {
 public:
  virtual ~EspEpochSource() = default;

  // The epoch this host's outbound SAs to `peer` are to be at now. nullopt:
  // no outbound SA may be created for that peer now (e.g. this host's current
  // epoch was used with that peer before, and its next rotation is not due).
  virtual std::optional<uint32_t> outEpoch(const std::string& peer) = 0;

  // Called before an outbound SA to `peer` at `epoch` is created: the use is
  // recorded durably first (written and fsync'd). An error (nothing may be
  // created then) when it cannot be recorded, or that pair used the epoch
  // before.
  virtual Status willCreateOut(const std::string& peer, uint32_t epoch) = 0;

  // The peer's epochs whose inbound SAs are to be installed now: its current
  // one, the next, and a previous one still within its grace period. Empty:
  // nothing is known of the peer's epochs yet (no inbound SA, so the plane
  // gives that peer no entries).
  virtual std::set<uint32_t> inEpochs(const std::string& peer) = 0;
};

}  // namespace weft::driver
