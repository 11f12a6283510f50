#pragma once
// Replay protection like IPsec's anti-replay window: every sender stamps
// (sender id, boot epoch, 64-bit sequence) inside the authenticated payload;
// the receiver remembers, per sender, the newest epoch and a sliding bitmap of
// the last kWindow sequence numbers seen in it.

#include <bitset>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace weft::gossip {

enum class ReplayVerdict {
  kAccept,
  kReplay,      // sequence already seen, or older than the window
  kStaleEpoch,  // from an earlier boot of the sender
};

class ReplayWindow {
 public:
  static constexpr uint64_t kWindow = 1024;

  // Checks and, when accepted, records the stamp.
  ReplayVerdict check(const std::string& sender, uint64_t epoch, uint64_t seq);
  void forget(const std::string& sender) { senders_.erase(sender); }
  size_t senderCount() const { return senders_.size(); }

 private:
  struct State {
    uint64_t epoch = 0;
    uint64_t highest = 0;       // highest sequence accepted
    std::bitset<kWindow> seen;  // bit i: highest - i was accepted
  };
  std::unordered_map<std::string, State> senders_;
};

}  // namespace weft::gossip
