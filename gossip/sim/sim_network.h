#pragma once
// SimNetwork: a deterministic discrete-event network for running many real
// GossipNodes in one process on virtual time. Per-link latency (a fixed base
// per directed link drawn from [minLatency, maxLatency], plus exponential
// jitter per packet), datagram loss, partitions and down hosts. Streams are
// reliable (TCP) but cut by partitions and down hosts.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "gossip/clock.h"
#include "gossip/transport.h"

namespace weft::gossip::sim {

struct LinkModel {
  Duration minLatency = std::chrono::microseconds(200);
  Duration maxLatency = std::chrono::microseconds(2000);
  Duration meanJitter = std::chrono::microseconds(200);
  double loss = 0.0;  // datagram loss probability
};

class SimNetwork {
 public:
  explicit SimNetwork(uint64_t seed, LinkModel link = {});
  ~SimNetwork();

  Time now() const { return now_; }
  // Runs events until virtual time `until` (inclusive) or no events remain.
  void runUntil(Time until);
  void runFor(Duration d) { runUntil(now_ + d); }
  // Runs until pred() is true or `deadline`; returns pred(). pred is checked
  // every `resolution` of virtual time (and at the deadline).
  bool runUntilTrue(const std::function<bool()>& pred, Time deadline,
                    Duration resolution = std::chrono::milliseconds(1));

  // Endpoints for one host. The clock's timers die with it.
  std::unique_ptr<Clock> makeClock();
  std::unique_ptr<Transport> makeTransport(const std::string& addr);

  void setLoss(double loss) { link_.loss = loss; }
  void setDown(const std::string& addr, bool down);
  // Hosts in different groups cannot reach each other; group 0 is the default.
  void setPartition(const std::string& addr, int group) { group_[addr] = group; }
  void healPartitions() { group_.clear(); }

  // Sees every packet as sent (before loss); for tests that capture traffic.
  std::function<void(const std::string& from, const std::string& to, const std::vector<uint8_t>& data,
                     bool stream)>
      tap;
  // Delivers bytes as if `from` had sent them (replays, forgeries).
  void inject(const std::string& from, const std::string& to, std::vector<uint8_t> data, bool stream) {
    send(from, to, std::move(data), stream);
  }

  uint64_t datagramsSent() const { return datagrams_; }
  uint64_t datagramsLost() const { return lost_; }
  uint64_t bytesSent(const std::string& addr) const;
  uint64_t totalBytes() const { return totalBytes_; }

  // Internal: used by SimClock / SimTransport.
  struct Owner {
    bool alive = true;
  };
  uint64_t scheduleAt(Time t, std::shared_ptr<Owner> owner, std::function<void()> fn);
  void cancel(uint64_t id) { cancelled_.insert(id); }
  void send(const std::string& from, const std::string& to, std::vector<uint8_t> data, bool stream);
  void attach(const std::string& addr, Transport::Handler* handler) { handlers_[addr] = handler; }
  void detach(const std::string& addr) { handlers_.erase(addr); }

 private:
  struct Event {
    Time at;
    uint64_t id;
    std::shared_ptr<Owner> owner;
    std::function<void()> fn;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const { return a.at != b.at ? a.at > b.at : a.id > b.id; }
  };
  bool step(Time limit);
  Duration linkLatency(const std::string& from, const std::string& to);
  bool reachable(const std::string& from, const std::string& to) const;

  std::mt19937_64 rng_;
  LinkModel link_;
  Time now_{0};
  uint64_t nextId_ = 1;
  std::priority_queue<Event, std::vector<Event>, Later> events_;
  std::unordered_set<uint64_t> cancelled_;
  std::unordered_map<std::string, Transport::Handler*> handlers_;
  std::unordered_set<std::string> down_;
  std::unordered_map<std::string, int> group_;
  std::unordered_map<std::string, Duration> linkBase_;
  std::unordered_map<std::string, uint64_t> bytesByHost_;
  uint64_t datagrams_ = 0, lost_ = 0, totalBytes_ = 0;
};

}  // namespace weft::gossip::sim
