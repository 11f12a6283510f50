#include "datapath/replay_window.h"

namespace weft::datapath {

ReplayVerdict ReplayWindow::check(uint64_t seq) const {
  if (seq == 0) return ReplayVerdict::kTooOld;
  if (seq > top_) return ReplayVerdict::kFresh;
  if (top_ - seq >= kWindowSize) return ReplayVerdict::kTooOld;
  const uint64_t word = bits_[(seq / 64) % kWords];
  return (word >> (seq % 64)) & 1 ? ReplayVerdict::kDuplicate : ReplayVerdict::kFresh;
}

void ReplayWindow::accept(uint64_t seq) {
  if (seq > top_) {
    // Clear the words between the old top's word and the new one; a jump
    // of kWords words or more clears the whole ring.
    const uint64_t from = top_ / 64, to = seq / 64;
    const uint64_t steps = to - from < kWords ? to - from : kWords;
    for (uint64_t i = 1; i <= steps; ++i) bits_[(from + i) % kWords] = 0;
    top_ = seq;
  }
  bits_[(seq / 64) % kWords] |= uint64_t{1} << (seq % 64);
}

}  // namespace weft::datapath
