#pragma once
// Anti-replay for one key's 64-bit sequence space: a sliding window of the
// last kWindowSize sequence numbers (RFC 4303 with extended sequence numbers
// sent whole, so no ESN guessing), kept as a ring of 64-bit words as in
// RFC 6479: advancing clears whole words instead of shifting a bitmap, so a
// far jump costs at most one pass over the ring.
//
// Two steps, because forged packets must not move the window: check() before
// decryption (cheap rejection of replays), accept() only after the packet
// authenticated.

#include <array>
#include <cstdint>

namespace weft::datapath {

enum class ReplayVerdict {
  kFresh,
  kDuplicate,  // inside the window and already seen
  kTooOld,     // behind the window (or 0, never sent)
};

class ReplayWindow {
 public:
  // Sequence numbers the window remembers behind the highest one seen:
  // a packet reordered by up to kWindowSize - 1 places is still accepted.
  static constexpr uint64_t kWindowSize = 2048;

  ReplayVerdict check(uint64_t seq) const;
  // Records an authenticated sequence number (check() said kFresh).
  void accept(uint64_t seq);
  uint64_t highest() const { return top_; }

 private:
  // One word more than the window needs, so the word holding `top_` can be
  // partly ahead of it while a full kWindowSize stays behind it.
  static constexpr uint64_t kWords = kWindowSize / 64 + 1;
  std::array<uint64_t, kWords> bits_{};
  uint64_t top_ = 0;  // highest sequence accepted (0: none yet)
};

}  // namespace weft::datapath
