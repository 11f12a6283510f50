#pragma once
// SimCluster: many real GossipNodes on one SimNetwork, with helpers to crash,
// restart, partition and check convergence.

#include <memory>
#include <string>
#include <vector>

#include "gossip/node.h"
#include "gossip/sim/sim_network.h"

namespace weft::gossip::sim {

class SimCluster {
 public:
  // Nodes are named "node-<i>" at "10.<i/250>.<i%250>.1:7947".
  SimCluster(SimNetwork& net, NodeConfig base, Keyring keyring, uint64_t seed);
  ~SimCluster();

  // Adds and starts a node (not yet joined); returns its index.
  size_t add();
  size_t add(const Keyring& keyring);
  // Joins node i through the given seed nodes.
  void join(size_t i, const std::vector<size_t>& seeds);
  // Adds n nodes, each joining through node 0 (and the first node alone),
  // then runs until every node sees every other alive or `deadline` passes.
  bool bootstrap(size_t n, Duration settle);

  void crash(size_t i);  // no leave: it just stops answering
  // New process: fresh state, higher epoch; rejoins via node 0 (or 1) unless
  // `rejoin` is false (it was the others' seed and has no seed of its own).
  void restart(size_t i, bool rejoin = true);
  void leave(size_t i);

  size_t size() const { return hosts_.size(); }
  bool up(size_t i) const { return hosts_[i].node != nullptr && hosts_[i].up; }
  GossipNode& node(size_t i) { return *hosts_[i].node; }
  const std::string& addr(size_t i) const { return hosts_[i].addr; }
  std::string id(size_t i) const { return "node-" + std::to_string(i); }

  // Every running node sees every other running node alive and (unless
  // ignoreDown) nothing else alive.
  bool membershipConverged() const;
  // Number of running nodes whose view of `id` is one of the given states.
  size_t countSeeing(const std::string& id, std::initializer_list<MemberState> states) const;

 private:
  struct Host {
    std::string addr;
    std::unique_ptr<Clock> clock;
    std::unique_ptr<Transport> transport;
    std::unique_ptr<GossipNode> node;
    bool up = false;
  };
  void create(size_t i, const Keyring& keyring);

  SimNetwork& net_;
  NodeConfig base_;
  Keyring keyring_;
  uint64_t seed_;
  std::vector<Host> hosts_;
};

}  // namespace weft::gossip::sim
