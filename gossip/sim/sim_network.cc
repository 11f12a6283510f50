#include "gossip/sim/sim_network.h"

namespace weft::gossip::sim {
namespace {

class SimClock : public Clock {
 public:
  explicit SimClock(SimNetwork& net) : net_(net), owner_(std::make_shared<SimNetwork::Owner>()) {}
  ~SimClock() override { owner_->alive = false; }
  Time now() const override { return net_.now(); }
  TimerId schedule(Duration delay, std::function<void()> fn) override {
    return net_.scheduleAt(net_.now() + std::max(delay, Duration(0)), owner_, std::move(fn));
  }
  void cancel(TimerId id) override {
    if (id != 0) net_.cancel(id);
  }

 private:
  SimNetwork& net_;
  std::shared_ptr<SimNetwork::Owner> owner_;
};

class SimTransport : public Transport {
 public:
  SimTransport(SimNetwork& net, std::string addr) : net_(net), addr_(std::move(addr)) {
    net_.attach(addr_, &handler_);
  }
  ~SimTransport() override { net_.detach(addr_); }
  void sendDatagram(const std::string& to, std::vector<uint8_t> packet) override {
    net_.send(addr_, to, std::move(packet), false);
  }
  void sendStream(const std::string& to, std::vector<uint8_t> frame) override {
    net_.send(addr_, to, std::move(frame), true);
  }
  void setHandler(Handler handler) override { handler_ = std::move(handler); }

 private:
  SimNetwork& net_;
  std::string addr_;
  Handler handler_;
};

}  // namespace

SimNetwork::SimNetwork(uint64_t seed, LinkModel link) : rng_(seed), link_(link) {}
SimNetwork::~SimNetwork() = default;

std::unique_ptr<Clock> SimNetwork::makeClock() { return std::make_unique<SimClock>(*this); }

std::unique_ptr<Transport> SimNetwork::makeTransport(const std::string& addr) {
  return std::make_unique<SimTransport>(*this, addr);
}

uint64_t SimNetwork::scheduleAt(Time t, std::shared_ptr<Owner> owner, std::function<void()> fn) {
  const uint64_t id = nextId_++;
  events_.push(Event{t, id, std::move(owner), std::move(fn)});
  return id;
}

bool SimNetwork::step(Time limit) {
  if (events_.empty() || events_.top().at > limit) return false;
  Event ev = events_.top();
  events_.pop();
  now_ = ev.at;
  if (cancelled_.erase(ev.id)) return true;
  if (ev.owner && !ev.owner->alive) return true;
  ev.fn();
  return true;
}

void SimNetwork::runUntil(Time until) {
  while (step(until)) {
  }
  if (now_ < until) now_ = until;
}

bool SimNetwork::runUntilTrue(const std::function<bool()>& pred, Time deadline, Duration resolution) {
  while (now_ < deadline) {
    if (pred()) return true;
    runUntil(std::min(deadline, now_ + resolution));
  }
  return pred();
}

void SimNetwork::setDown(const std::string& addr, bool down) {
  if (down)
    down_.insert(addr);
  else
    down_.erase(addr);
}

uint64_t SimNetwork::bytesSent(const std::string& addr) const {
  auto it = bytesByHost_.find(addr);
  return it == bytesByHost_.end() ? 0 : it->second;
}

bool SimNetwork::reachable(const std::string& from, const std::string& to) const {
  if (down_.count(from) || down_.count(to)) return false;
  auto g = [&](const std::string& a) {
    auto it = group_.find(a);
    return it == group_.end() ? 0 : it->second;
  };
  return g(from) == g(to);
}

Duration SimNetwork::linkLatency(const std::string& from, const std::string& to) {
  const std::string key = from + ">" + to;
  auto it = linkBase_.find(key);
  if (it == linkBase_.end()) {
    std::uniform_int_distribution<int64_t> base(link_.minLatency.count(), link_.maxLatency.count());
    it = linkBase_.emplace(key, Duration(base(rng_))).first;
  }
  Duration d = it->second;
  if (link_.meanJitter.count() > 0) {
    std::exponential_distribution<double> jitter(1.0 / static_cast<double>(link_.meanJitter.count()));
    d += Duration(static_cast<int64_t>(jitter(rng_)));
  }
  return d;
}

void SimNetwork::send(const std::string& from, const std::string& to, std::vector<uint8_t> data,
                      bool stream) {
  if (tap) tap(from, to, data, stream);
  bytesByHost_[from] += data.size();
  totalBytes_ += data.size();
  if (!stream) {
    ++datagrams_;
    std::uniform_real_distribution<double> u(0.0, 1.0);
    if (link_.loss > 0 && u(rng_) < link_.loss) {
      ++lost_;
      return;
    }
  }
  if (!reachable(from, to)) return;
  // A stream pays a handshake round trip before its data.
  Duration latency = linkLatency(from, to);
  if (stream) latency = latency * 3;
  scheduleAt(now_ + latency, nullptr, [this, from, to, data = std::move(data), stream]() mutable {
    if (!reachable(from, to)) return;  // went down or partitioned in flight
    auto h = handlers_.find(to);
    if (h == handlers_.end() || !*h->second) return;
    (*h->second)(from, std::move(data), stream);
  });
}

}  // namespace weft::gossip::sim
