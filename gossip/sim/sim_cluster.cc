#include "gossip/sim/sim_cluster.h"

namespace weft::gossip::sim {

SimCluster::SimCluster(SimNetwork& net, NodeConfig base, Keyring keyring, uint64_t seed)
    : net_(net), base_(std::move(base)), keyring_(std::move(keyring)), seed_(seed) {}

SimCluster::~SimCluster() {
  for (auto& h : hosts_) h.node.reset();
}

void SimCluster::create(size_t i, const Keyring& keyring) {
  Host& h = hosts_[i];
  h.node.reset();
  h.transport.reset();
  h.clock.reset();
  h.clock = net_.makeClock();
  h.transport = net_.makeTransport(h.addr);
  NodeConfig cfg = base_;
  cfg.id = id(i);
  cfg.addr = h.addr;
  const uint64_t epoch = static_cast<uint64_t>(net_.now().count()) + 1;
  h.node = std::make_unique<GossipNode>(cfg, keyring, *h.transport, *h.clock,
                                        seed_ * 1000003 + i * 7919 + epoch, epoch);
  h.up = true;
  net_.setDown(h.addr, false);
  h.node->start();
}

size_t SimCluster::add() { return add(keyring_); }

size_t SimCluster::add(const Keyring& keyring) {
  const size_t i = hosts_.size();
  hosts_.emplace_back();
  hosts_[i].addr = "10." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ".1:7947";
  create(i, keyring);
  return i;
}

void SimCluster::join(size_t i, const std::vector<size_t>& seeds) {
  std::vector<std::string> addrs;
  for (size_t s : seeds) addrs.push_back(hosts_[s].addr);
  hosts_[i].node->join(addrs);
}

bool SimCluster::bootstrap(size_t n, Duration settle) {
  for (size_t k = 0; k < n; ++k) {
    size_t i = add();
    if (i > 0) join(i, {0});
  }
  return net_.runUntilTrue([&] { return membershipConverged(); }, net_.now() + settle);
}

void SimCluster::crash(size_t i) {
  hosts_[i].up = false;
  net_.setDown(hosts_[i].addr, true);
  hosts_[i].node->stop();
}

void SimCluster::restart(size_t i, bool rejoin) {
  create(i, keyring_);
  if (!rejoin) return;
  for (size_t s = 0; s < hosts_.size(); ++s)
    if (s != i && up(s)) {
      join(i, {s});
      break;
    }
}

void SimCluster::leave(size_t i) {
  hosts_[i].node->leave();
  hosts_[i].up = false;
}

bool SimCluster::membershipConverged() const {
  size_t running = 0;
  for (const auto& h : hosts_) running += h.up ? 1 : 0;
  for (size_t i = 0; i < hosts_.size(); ++i) {
    if (!hosts_[i].up) continue;
    const Membership& m = hosts_[i].node->membership();
    size_t aliveSeen = 0;
    for (const auto& [id, mem] : m.members()) {
      if (mem.state != MemberState::kAlive) continue;
      ++aliveSeen;
    }
    if (aliveSeen != running - 1) return false;
    for (size_t j = 0; j < hosts_.size(); ++j) {
      if (j == i || !hosts_[j].up) continue;
      const Member* mem = m.find("node-" + std::to_string(j));
      if (!mem || mem->state != MemberState::kAlive) return false;
    }
  }
  return true;
}

size_t SimCluster::countSeeing(const std::string& id, std::initializer_list<MemberState> states) const {
  size_t n = 0;
  for (const auto& h : hosts_) {
    if (!h.up) continue;
    const Member* m = h.node->membership().find(id);
    if (!m) continue;
    for (MemberState s : states)
      if (m->state == s) {
        ++n;
        break;
      }
  }
  return n;
}

}  // namespace weft::gossip::sim
