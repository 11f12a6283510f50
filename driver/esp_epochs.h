#pragma once
// The agreement on the kernel ESP backend's key epochs (issue 11): this
// host's outbound epoch, durable in the state directory, and the epochs its
// peers published over the (encrypted) gossip. Implements EspEpochSource,
// the seam the plane asks (driver/esp_epoch_source.h tells the protocol).
//
// This host's side, in STATE_DIR/esp-epochs.json: the current epoch, when it
// started (unix seconds), and the peers an outbound SA was (or may have
// been) created for at it.
// Every change is written to a temporary file, fsync'd, renamed over the old
// one and the directory fsync'd BEFORE it is used (willCreateOut returns only
// then; a rotation takes effect only then), so after a crash or a reboot no
// (peer, epoch) pair is ever created twice: a peer that had an SA at the
// current epoch in an earlier run waits for the next rotation, which comes
// as soon as the minimum interval allows.
//
// The file's peers ("outUsedBy") may be more than the peers that had an SA:
// recording a peer that then gets none is safe (it only waits for a rotation
// after a restart), recording one too few is not. So the first new peer at
// an epoch records, in the same write, every peer whose epoch record this
// host knows (the ones the plane may ask for next); willCreateOut for a peer
// the file already names writes nothing. With 1,024 peers that is one write
// and fsync per epoch instead of 1,024 (a rotation writes the new epoch, the
// first pair moved to it writes the peers: two). The price: after a restart,
// a peer that was recorded but had no SA yet waits for the next rotation
// like one that had.
//
// A start without the file (first start, or a wiped state directory) begins
// at max(1, unix seconds now). Epochs grow by one per rotation and rotations
// are at least kMinEspRotationInterval (10 s) apart, so a host's epoch grows
// ten times slower than the clock and stays at or below the time it was
// reached: a wiped host starts above every epoch it used before, unless its
// clock went back (or it is wiped and rebooted within the second it first
// started). A file that cannot be read or parsed is NOT guessed around: the
// kernel backend refuses to start and says which file (restore it, or remove
// it -- the next start then begins at the clock, above the old epochs).
//
// Rotation (current + 1, persisted, then the caller republishes the record
// and refreshes the plane): by time every `maxAge` (10 min, as the userspace
// backend) once the current epoch is in use, on request (weftctl crypto
// rotate), and when a pair needs a fresh epoch -- never faster than
// `minInterval`: the peers accept this host's current + 1 ahead, so a
// second rotation before they learnt the first would send under an epoch
// they do not accept yet (10 s is ample for the gossip; a late peer drops
// packets only until it has learnt it).
//
// Peers' side: each host publishes its current epoch in the network
// "crypto:hosts" as endpoint "esp.<owner>" (':' as '-'), beside its
// capability record "caps.<owner>" (driver/crypto_select.h), the epoch in the
// last four bytes of a locally administered MAC 02:00:EE:EE:EE:EE. inEpochs
// is {current, current + 1} of the peer's record, plus its previous epoch
// for `grace` (60 s, as the userspace backend accepts a previous key) after
// a newer one arrived. A peer's epochs only grow; a lower one than it
// published before in this run is refused (nothing changes): accepting it
// would let packets recorded under that epoch be replayed into a fresh
// replay window. After the peer's record was withdrawn (it left, or has no
// encrypted network) it starts afresh, so a wiped host that rejoins with its
// clock's epoch is accepted.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>

#include "common/result.h"
#include "driver/cluster.h"
#include "driver/esp_epoch_source.h"

namespace weft::driver {

inline constexpr const char* kEspEpochsFile = "esp-epochs.json";
// The largest epoch: a peer's current + 1 must still be one.
inline constexpr uint32_t kMaxEspEpoch = UINT32_MAX - 1;
// Bounds of the policy, checked (validate).
inline constexpr std::chrono::seconds kMinEspRotationInterval{10};
inline constexpr std::chrono::seconds kMaxEspKeyAge{24 * 3600};
inline constexpr std::chrono::seconds kMaxEspGrace{3600};
// The state file is small (an epoch, a time, at most kMaxEspPeers peers);
// anything longer is not one.
inline constexpr size_t kMaxEspEpochsFileSize = 256 * 1024;

struct EspEpochPolicy {
  std::chrono::seconds maxAge{600};      // rotation by time, once the epoch is in use
  std::chrono::seconds minInterval{10};  // between two rotations, never less
  std::chrono::seconds grace{60};        // a peer's previous epoch still accepted
};
Status validate(const EspEpochPolicy& p);

// Time, injected (tests move it by hand).
class EspEpochClock {
 public:
  virtual ~EspEpochClock() = default;
  virtual int64_t unixSeconds() = 0;
  virtual std::chrono::steady_clock::time_point steady() = 0;
};
EspEpochClock& realEspEpochClock();

// The state file, injected (tests see what was written when, and fail it).
class EspEpochFiles {
 public:
  virtual ~EspEpochFiles() = default;
  virtual Result<std::string> read(const std::string& path) = 0;  // ENOENT: absent
  // Durable when it returns OK (temp file, fsync, rename, directory fsync).
  virtual Status writeDurably(const std::string& path, const std::string& content) = 0;
};
EspEpochFiles& realEspEpochFiles();

class EspEpochBook : public EspEpochSource {
 public:
  struct Options {
    std::string path;  // STATE_DIR/esp-epochs.json
    std::string self;  // this host's underlay address (its records' owner)
    EspEpochPolicy policy;
    EspEpochClock* clock = &realEspEpochClock();
    EspEpochFiles* files = &realEspEpochFiles();
  };
  // Reads the state file (absent: a fresh start at the clock, written before
  // this returns). An unreadable or malformed file is an error naming it.
  static Result<std::unique_ptr<EspEpochBook>> open(Options o);

  // --- EspEpochSource ---
  // The current epoch -- also for a peer that had an SA at it in an earlier
  // run, so the plane can adopt the one the kernel kept. If the plane must
  // create one for such a peer, willCreateOut refuses, a rotation is asked
  // for, and outEpoch says nullopt for that peer until it came.
  std::optional<uint32_t> outEpoch(const std::string& peer) override;
  Status willCreateOut(const std::string& peer, uint32_t epoch) override;
  std::set<uint32_t> inEpochs(const std::string& peer) override;

  uint32_t current() const;
  // A peer the plane wants ESP with but has none for (its caller's check,
  // however the plane refused it): when the current epoch was used with
  // that peer before, it waits and a rotation is asked for (true the
  // first time); else the epoch is not what holds it up and nothing
  // changes (false).
  bool needFresh(const std::string& peer);

  // --- this host's record, and the peers' ---
  static bool isRecord(const EndpointRecord& r);  // network crypto:hosts, endpoint esp.*
  EndpointRecord record() const;                  // this host's, at its current epoch
  static EndpointRecord recordFor(uint32_t epoch, const std::string& owner);
  // A peer's record arrived (active) or went away. Refused, changing
  // nothing, when malformed, lower than that peer's last one, or a new host
  // beyond kMaxCryptoCapsHosts. This host's own is ignored. *changed: the
  // peer's inEpochs changed.
  Status apply(const EndpointRecord& r, bool active, bool* changed = nullptr);
  size_t peers() const;

  // --- rotation ---
  struct Rotation {
    bool rotated = false;  // now; else it comes in `wait`
    uint32_t epoch = 0;    // current after the call
    std::chrono::seconds wait{0};
  };
  // On request: now when the minimum interval allows, else as soon as it
  // does (the next tick after). An error: the new epoch cannot be recorded
  // (nothing changed) or the epochs are used up.
  Result<Rotation> rotate();
  // Periodic (weft-plugin: every 100 ms): rotates when due (age, a request,
  // a pair that waits for a fresh epoch) and drops peers' previous epochs
  // whose grace is over. rotated: republish the record; changed (also after
  // a rotation): refresh the plane.
  struct Tick {
    bool rotated = false;
    bool changed = false;
    std::string error;  // a due rotation could not be recorded (tried again next tick)
  };
  Tick tick();

  // For weftctl crypto: this host's epoch, age, what waits; the peers' epochs.
  nlohmann::json status() const;

 private:
  explicit EspEpochBook(Options o) : o_(std::move(o)) {}

  struct PeerEpochs {
    uint32_t current = 0;
    std::optional<uint32_t> previous;
    std::chrono::steady_clock::time_point previousUntil;
  };
  std::string serializeLocked(uint32_t epoch, int64_t startedAt, const std::set<std::string>& used) const;
  // What the file is to name when `peer` is new at epoch_: used_, `peer`,
  // then the peers recorded or known, at most kMaxCryptoCapsHosts.
  std::set<std::string> toRecordLocked(const std::string& peer) const;
  Status loadLocked(const std::string& text);
  Result<Rotation> rotateLocked(bool force);
  bool rotationAllowedLocked(std::chrono::steady_clock::time_point now) const;
  void expireLocked(std::chrono::steady_clock::time_point now, bool* changed);

  Options o_;
  mutable std::mutex mu_;  // a leaf: nothing is called under it but the clock and the file
  uint32_t epoch_ = 0;
  int64_t startedAt_ = 0;                        // unix seconds, persisted
  std::chrono::steady_clock::time_point since_;  // the same instant on the steady clock
  std::set<std::string> used_;                   // peers with an outbound SA at epoch_
  std::set<std::string> recorded_;               // the file's peers at epoch_: used_ and maybe more
  std::set<std::string> waiting_;                // refused by willCreateOut: wait for the rotation
  bool wanted_ = false;                          // a rotation was asked for
  std::map<std::string, PeerEpochs> peers_;
};

}  // namespace weft::driver
