#include "gossip/replay_window.h"

namespace weft::gossip {

ReplayVerdict ReplayWindow::check(const std::string& sender, uint64_t epoch, uint64_t seq) {
  auto [it, inserted] = senders_.try_emplace(sender);
  State& s = it->second;
  if (inserted || epoch > s.epoch) {
    s.epoch = epoch;
    s.highest = seq;
    s.seen.reset();
    s.seen.set(0);
    return ReplayVerdict::kAccept;
  }
  if (epoch < s.epoch) return ReplayVerdict::kStaleEpoch;
  if (seq > s.highest) {
    const uint64_t shift = seq - s.highest;
    if (shift >= kWindow)
      s.seen.reset();
    else
      s.seen <<= shift;
    s.seen.set(0);
    s.highest = seq;
    return ReplayVerdict::kAccept;
  }
  const uint64_t age = s.highest - seq;
  if (age >= kWindow || s.seen.test(age)) return ReplayVerdict::kReplay;
  s.seen.set(age);
  return ReplayVerdict::kAccept;
}

}  // namespace weft::gossip
