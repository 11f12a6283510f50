#include "gossip/broadcast_queue.h"

namespace weft::gossip {

void BroadcastQueue::remove(uint64_t id) {
  auto it = items_.find(id);
  if (it == items_.end()) return;
  auto o = order_.find(it->second.network);
  if (o != order_.end()) {
    o->second.erase({it->second.transmits, ~id});
    if (o->second.empty()) order_.erase(o);
  }
  auto k = byKey_.find(it->second.key);
  if (k != byKey_.end() && k->second == id) byKey_.erase(k);
  items_.erase(it);
}

void BroadcastQueue::clear() {
  items_.clear();
  order_.clear();
  byKey_.clear();
}

void BroadcastQueue::enqueue(std::string key, std::string network, std::vector<uint8_t> bytes) {
  auto old = byKey_.find(key);
  if (old != byKey_.end()) remove(old->second);
  const uint64_t id = nextId_++;
  byKey_[key] = id;
  order_[network].insert({0, ~id});
  items_.emplace(id, Item{id, std::move(key), std::move(network), std::move(bytes), 0});
}

std::vector<std::vector<uint8_t>> BroadcastQueue::take(size_t budget, int limit,
                                                       const std::function<bool(const std::string&)>& wants,
                                                       std::set<uint64_t>* exclude) {
  constexpr size_t kSmallestFrame = 8;
  // k-way merge over the per-network orders the destination wants.
  using Iter = std::set<OrderKey>::const_iterator;
  std::vector<std::pair<Iter, Iter>> cursors;
  for (const auto& [net, order] : order_)
    if (wants(net)) cursors.emplace_back(order.begin(), order.end());
  std::vector<std::vector<uint8_t>> out;
  std::vector<uint64_t> picked;
  size_t used = 0;
  int misses = 0;  // consecutive items that did not fit: the packet is full enough
  while (budget - used >= kSmallestFrame && misses < 16) {
    std::pair<Iter, Iter>* best = nullptr;
    for (auto& c : cursors)
      if (c.first != c.second && (!best || *c.first < *best->first)) best = &c;
    if (!best) break;
    const uint64_t id = ~best->first->second;
    ++best->first;
    const Item& it = items_.at(id);
    if (exclude->count(id)) continue;
    if (used + it.bytes.size() > budget) {
      ++misses;
      continue;
    }
    misses = 0;
    used += it.bytes.size();
    out.push_back(it.bytes);
    picked.push_back(id);
    exclude->insert(id);
  }
  for (uint64_t id : picked) {
    Item& it = items_.at(id);
    auto& order = order_[it.network];
    order.erase({it.transmits, ~id});
    order.insert({++it.transmits, ~id});
    if (it.transmits >= limit) remove(id);
  }
  return out;
}

std::set<std::string> BroadcastQueue::pendingNetworks() const {
  std::set<std::string> nets;
  for (const auto& [net, order] : order_) nets.insert(net);
  return nets;
}

}  // namespace weft::gossip
