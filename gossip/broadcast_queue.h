#pragma once
// Piggyback queue of encoded broadcasts (memberlist's TransmitLimitedQueue):
// least-transmitted first, each sent at most `limit` times, a newer broadcast
// with the same key replaces an older one.

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace weft::gossip {

// λ·⌈log10(N+1)⌉, at least λ.
inline int retransmitLimit(int mult, size_t clusterSize) {
  int scale = static_cast<int>(std::ceil(std::log10(static_cast<double>(clusterSize) + 1.0)));
  return mult * std::max(scale, 1);
}

class BroadcastQueue {
 public:
  struct Item {
    uint64_t id = 0;             // insertion order, newer is larger
    std::string key;             // "m:<node>", "n:<node>", "r:<network>/<endpoint>"
    std::string network;         // empty: for every member; else only for carriers
    std::vector<uint8_t> bytes;  // framed message
    int transmits = 0;
  };

  void enqueue(std::string key, std::string network, std::vector<uint8_t> bytes);
  // Picks broadcasts whose network passes `wants` and that fit in `budget`
  // bytes, skipping ids in `exclude` (and adding picked ids to it). Each pick
  // counts one transmit; items reaching `limit` are dropped.
  std::vector<std::vector<uint8_t>> take(size_t budget, int limit,
                                         const std::function<bool(const std::string&)>& wants,
                                         std::set<uint64_t>* exclude);
  // Distinct networks with pending items ("" for cluster-wide items).
  std::set<std::string> pendingNetworks() const;
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void clear();

 private:
  void remove(uint64_t id);
  // Pick order: fewest transmits first, then newest first.
  using OrderKey = std::pair<int, uint64_t>;  // (transmits, ~id)
  std::map<uint64_t, Item> items_;
  std::map<std::string, std::set<OrderKey>> order_;  // per network
  std::unordered_map<std::string, uint64_t> byKey_;
  uint64_t nextId_ = 1;
};

}  // namespace weft::gossip
