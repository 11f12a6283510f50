#include "services/name_service.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>

#include "cluster/log_limiter.h"
#include "common/dns_name.h"
#include "common/log.h"
#include "kernel/netns_socket.h"
#include "services/dns_message.h"

namespace weft::services {
namespace {

std::optional<IpAddr> addrOf(const std::string& cidr) {
  if (cidr.empty()) return std::nullopt;
  auto p = Prefix::parseHostOrPrefix(cidr);
  if (!p) return std::nullopt;
  return p->addr;
}

// Names from a fixed number of places: the cap on one record's size is
// ipc's (16 names, 255 bytes), enforced here so nothing is refused later.
constexpr size_t kMaxNamesBytes = 255;
// Containers named by events between two passes; past it, the next pass
// looks everything up again (a burst of events costs one full pass).
constexpr size_t kMaxStaleContainers = 4096;
// Connections waiting for accept per network's TCP listener; the responder
// accepts (or refuses, past its limit) every poll turn.
constexpr int kTcpBacklog = 16;

}  // namespace

NameService::NameService(kernel::Kernel& kernel, engine::EngineSource* engine, std::string offReason,
                         std::function<std::vector<LocalEndpoint>()> locals, driver::Cluster* cluster,
                         NameConfig cfg)
    : kernel_(kernel),
      engine_(engine),
      offReason_(std::move(offReason)),
      locals_(std::move(locals)),
      cluster_(cluster),
      cfg_(cfg),
      dnsAddr_(*IpAddr::parse(kDnsAddress)),
      tcp_(cfg.tcp,
           [this](const std::string& identity, const std::optional<IpAddr>& from,
                  std::span<const uint8_t> q) { return answer(identity, q, Transport::kTcp, from); }) {}

NameService::~NameService() { stop(); }

void NameService::start() {
  if (!engine_) return;
  std::lock_guard<std::mutex> lk(mu_);
  if (engineThread_.joinable()) return;
  stop_ = false;
  engineThread_ = std::thread([this] { runEngine(); });
  responderThread_ = std::thread([this] { runResponder(); });
}

void NameService::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (engineThread_.joinable()) engineThread_.join();
  if (responderThread_.joinable()) responderThread_.join();
}

bool NameService::joined(const std::string& endpointId, const std::string& sandboxKey) {
  if (!engine_) return false;
  std::lock_guard<std::mutex> lk(mu_);
  pending_[endpointId] = std::chrono::steady_clock::now();
  wake_ = true;
  cv_.notify_all();
  if (sandboxKey.empty()) return true;
  auto [it, added] = routes_.emplace(sandboxKey, endpointId);
  return added || it->second == endpointId;
}

void NameService::left(const std::string& endpointId) {
  std::lock_guard<std::mutex> lk(mu_);
  pending_.erase(endpointId);
  for (auto it = routes_.begin(); it != routes_.end();)
    it = it->second == endpointId ? routes_.erase(it) : std::next(it);
  wake_ = true;
  cv_.notify_all();
}

// ------------------------------------------------------------- remote names

void NameService::applyNames(const driver::EndpointNames& n, bool active) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!active) {
    auto sets = table_.sets(n.network);
    for (const auto& [s, answering] : sets)
      if (s.endpoint == n.endpoint && s.owner == n.owner) table_.remove(n.network, n.endpoint);
    return;
  }
  NameSet s{n.network, n.endpoint, n.owner, IpAddr::parse(n.ipv4), IpAddr::parse(n.ipv6), n.names};
  if (auto st = table_.putRemote(std::move(s)); !st) {
    ++recordsRefused_;
    static cluster::LogLimiter limiter{5, std::chrono::seconds(60)};
    size_t suppressed = 0;
    if (limiter.allow(&suppressed))
      LOG_WARN("names", "refused names from "
                            << n.owner << ": " << st.error().message
                            << (suppressed ? " (" + std::to_string(suppressed) + " more)" : ""));
  }
}

void NameService::endpointRecord(const driver::EndpointRecord& r, const std::string& owner, bool active) {
  std::lock_guard<std::mutex> lk(mu_);
  table_.endpointSeen(r.network, r.endpoint, owner, addrOf(r.ipv4), addrOf(r.ipv6), active);
}

void NameService::resyncNames() {
  std::lock_guard<std::mutex> lk(mu_);
  table_.clearRemote();
}

// ------------------------------------------------------------- local names

std::vector<std::string> NameService::namesOf(const engine::ContainerNames& c,
                                              const std::string& endpointId) {
  std::vector<std::string> candidates{c.name, c.service};
  if (auto it = c.aliases.find(endpointId); it != c.aliases.end())
    candidates.insert(candidates.end(), it->second.begin(), it->second.end());
  std::vector<std::string> out;
  size_t bytes = 0;
  for (const auto& n : candidates) {
    if (!validDnsName(n)) continue;
    std::string l = lowerName(n);
    if (std::find(out.begin(), out.end(), l) != out.end()) continue;
    const size_t add = l.size() + (out.empty() ? 0 : 1);
    if (out.size() >= kMaxNamesPerEndpoint || bytes + add > kMaxNamesBytes)
      continue;  // bounded; the first win
    bytes += add;
    out.push_back(std::move(l));
  }
  return out;
}

void NameService::engineEvent(const engine::EngineEvent& e) {
  std::lock_guard<std::mutex> lk(mu_);
  const bool changed = (e.type == "container" && (e.action == "start" || e.action == "rename")) ||
                       (e.type == "network" && e.action == "connect");
  if (changed && !e.container.empty()) {
    if (staleContainers_.size() < kMaxStaleContainers)
      staleContainers_.insert(e.container);
    else
      resyncAll_ = true;
  }
  wake_ = true;
  cv_.notify_all();
}

void NameService::engineStream(bool up) {
  std::lock_guard<std::mutex> lk(mu_);
  streamUp_ = up;
  if (up) resyncAll_ = true;  // what happened while it was down
  wake_ = true;
  cv_.notify_all();
}

void NameService::refresh() {
  if (!engine_) return;
  auto locals = locals_();
  std::map<std::string, const LocalEndpoint*> byId;
  for (const auto& l : locals) byId[l.endpointId] = &l;
  // 1. Endpoints that left: their names go.
  std::vector<Published> gone;
  std::vector<const LocalEndpoint*> todo;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto it = published_.begin(); it != published_.end();) {
      if (byId.count(it->first)) {
        ++it;
        continue;
      }
      table_.remove(it->second.identity, it->first);
      gone.push_back(std::move(it->second));
      it = published_.erase(it);
    }
    for (const auto& l : locals) {
      auto p = published_.find(l.endpointId);
      if (p == published_.end() || resyncAll_ || staleContainers_.count(p->second.container))
        todo.push_back(&l);
    }
    staleContainers_.clear();
    resyncAll_ = false;
    wantListen_.clear();
    for (const auto& l : locals) wantListen_[l.identity] = l.netns;
  }
  if (cluster_)
    for (const auto& g : gone) cluster_->withdrawNames(g.names.network, g.names.endpoint);
  // 2. New endpoints: the engine's names for them (the endpoint -> container
  // map from network inspect, then the container's inspect).
  std::map<std::string, engine::NetworkView> views;
  std::string err;
  for (const LocalEndpoint* l : todo) {
    auto v = views.find(l->networkId);
    if (v == views.end()) {
      auto view = engine_->network(l->networkId);
      if (!view) {
        err = view.error().message;
        continue;
      }
      v = views.emplace(l->networkId, std::move(*view)).first;
    }
    auto c = v->second.containers.find(l->endpointId);
    if (c == v->second.containers.end()) continue;  // not attached yet: the next pass
    auto cn = engine_->containerNames(c->second);
    if (!cn) {
      err = cn.error().message;
      continue;
    }
    driver::EndpointNames n{l->identity,
                            l->endpointId,
                            "",
                            l->ipv4 ? l->ipv4->str() : "",
                            l->ipv6 ? l->ipv6->str() : "",
                            namesOf(*cn, l->endpointId)};
    bool publish = false, withdraw = false;
    {
      std::lock_guard<std::mutex> lk(mu_);
      pending_.erase(l->endpointId);
      auto before = published_.find(l->endpointId);
      const bool had = before != published_.end() && !before->second.names.names.empty();
      if (before != published_.end() && before->second.names.names == n.names) {
        before->second.container = c->second;
        continue;  // looked up again, unchanged
      }
      NameSet s{n.network, n.endpoint, "", l->ipv4, l->ipv6, n.names};
      if (!n.names.empty()) {
        if (auto st = table_.putLocal(s); !st) LOG_WARN("names", st.error().message);
      } else if (had) {
        table_.remove(l->identity, l->endpointId);
      }
      publish = !n.names.empty();
      withdraw = had && n.names.empty();
      published_[l->endpointId] = {l->identity, n, c->second};
    }
    if (cluster_ && publish) cluster_->publishNames(n);
    if (cluster_ && withdraw) cluster_->withdrawNames(n.network, n.endpoint);
    LOG_DEBUG("names", "endpoint " << l->endpointId.substr(0, 12) << ": " << n.names.size() << " name(s)");
  }
  std::lock_guard<std::mutex> lk(mu_);
  if (err != engineError_ && !err.empty()) LOG_WARN("names", "the engine: " << err << " (names retried)");
  engineError_ = err;
}

void NameService::runEngine() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock<std::mutex> lk(mu_);
  auto next = Clock::now();
  while (!stop_) {
    // Joined endpoints whose names are not known yet are looked for often
    // (the engine lists them a moment after Join), the rest every interval.
    auto now = Clock::now();
    for (auto it = pending_.begin(); it != pending_.end();)
      it = now - it->second > cfg_.joinWait ? pending_.erase(it) : std::next(it);
    auto until = pending_.empty() ? next : std::min(next, now + cfg_.joinPoll);
    cv_.wait_until(lk, until, [this] { return stop_ || wake_; });
    if (stop_) break;
    wake_ = false;
    lk.unlock();
    refresh();
    lk.lock();
    if (Clock::now() >= next) {
      next = Clock::now() + (streamUp_ ? cfg_.resync : cfg_.interval);
      if (streamUp_) resyncAll_ = true;  // the next timed pass re-reads everything
    }
  }
}

// ------------------------------------------------------------- responder

std::vector<std::string> NameService::networksOfLocked(const std::string& identity,
                                                       const std::optional<IpAddr>& from) const {
  std::vector<std::string> out{identity};
  if (!from) return out;
  const std::string addr = from->str();
  std::string container;
  for (const auto& [ep, p] : published_)
    if (p.identity == identity && (p.names.ipv4 == addr || p.names.ipv6 == addr)) container = p.container;
  if (container.empty()) return out;
  for (const auto& [ep, p] : published_)
    if (p.container == container && std::find(out.begin(), out.end(), p.identity) == out.end())
      out.push_back(p.identity);
  return out;
}

std::vector<uint8_t> NameService::answer(const std::string& identity, std::span<const uint8_t> query,
                                         Transport transport, const std::optional<IpAddr>& from) {
  auto q = parseQuery(query);
  if (!q) {
    ++malformed_;
    return errorReply(query, q.error().code == EOPNOTSUPP ? Rcode::kNotImp : Rcode::kFormErr);
  }
  std::optional<std::vector<IpAddr>> addrs;
  {
    std::lock_guard<std::mutex> lk(mu_);
    const auto turn = q->qtype == kTypeA      ? NameTable::Turn::kV4
                      : q->qtype == kTypeAaaa ? NameTable::Turn::kV6
                      : q->qtype == kTypeAny  ? NameTable::Turn::kBoth
                                              : NameTable::Turn::kNone;
    if (q->qclass == kClassIn && validDnsName(q->name))
      for (const auto& net : networksOfLocked(identity, from))
        if ((addrs = table_.lookup(net, q->name, turn))) break;
  }
  if (!addrs) {
    ++refused_;
    return buildAnswer(*q, Rcode::kRefused, {}, 0);
  }
  ++answered_;
  return buildAnswer(*q, Rcode::kNoError, *addrs, kNameTtl, replyLimit(*q, transport));
}

void NameService::syncListeners() {
  std::map<std::string, std::string> want;
  {
    std::lock_guard<std::mutex> lk(mu_);
    want = wantListen_;
  }
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    if (want.count(it->first) && want.at(it->first) == it->second.netns) {
      ++it;
      continue;
    }
    tcp_.dropNetwork(it->first);
    it = listeners_.erase(it);
  }
  for (const auto& [identity, netns] : want) {
    auto& l = listeners_[identity];
    if (l.fd && l.tcp) continue;
    l.netns = netns;
    // The address on the sandbox's loopback (up), then the socket.
    std::string err;
    if (auto st = kernel_.setLinkUp(netns, "lo", true); !st) err = st.error().message;
    if (err.empty())
      if (auto st = kernel_.addAddress(netns, "lo", std::string(kDnsAddress) + "/32"); !st.okOr(EEXIST))
        err = st.error().message;
    if (err.empty() && !l.fd) {
      auto fd = kernel::bindUdpInNetns(kernel_.netnsPath(netns), dnsAddr_, cfg_.port);
      if (fd)
        l.fd = std::move(*fd);
      else
        err = fd.error().message;
    }
    if (err.empty() && !l.tcp) {
      auto fd = kernel::listenTcpInNetns(kernel_.netnsPath(netns), dnsAddr_, cfg_.port, kTcpBacklog);
      if (fd)
        l.tcp = std::move(*fd);
      else
        err = "TCP: " + fd.error().message;
    }
    if (err != l.error && !err.empty()) LOG_WARN("names", "no DNS responder in " << netns << ": " << err);
    if (err.empty() && !l.error.empty()) LOG_INFO("names", "DNS responder in " << netns << " listening");
    l.error = err;
  }
  std::lock_guard<std::mutex> lk(mu_);
  listenErrors_.clear();
  for (const auto& [identity, l] : listeners_) listenErrors_[identity] = l.fd && l.tcp ? "" : l.error;
}

void NameService::serve(const std::string& identity, int fd) {
  uint8_t buf[kMaxDnsMessage + 1];
  for (int i = 0; i < 64; ++i) {  // bounded per turn: one busy network cannot starve the others
    sockaddr_storage from{};
    socklen_t fromLen = sizeof from;
    ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fromLen);
    if (n < 0) return;
    std::vector<uint8_t> reply;
    if (static_cast<size_t>(n) > kMaxDnsMessage) {
      ++malformed_;
      reply = errorReply({buf, static_cast<size_t>(n)}, Rcode::kFormErr);
    } else {
      reply = answer(identity, {buf, static_cast<size_t>(n)}, Transport::kUdp, sockaddrIp(from));
    }
    if (!reply.empty())
      ::sendto(fd, reply.data(), reply.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), fromLen);
  }
}

void NameService::runResponder() {
  auto lastSync = std::chrono::steady_clock::time_point{};
  for (;;) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stop_) break;
    }
    if (std::chrono::steady_clock::now() - lastSync > std::chrono::milliseconds(200)) {
      syncListeners();
      lastSync = std::chrono::steady_clock::now();
    }
    // The UDP sockets, the TCP listeners, then the TCP connections.
    std::vector<pollfd> fds;
    std::vector<std::string> ids;
    for (const auto& [identity, l] : listeners_)
      if (l.fd) {
        fds.push_back({l.fd.get(), POLLIN, 0});
        ids.push_back(identity);
      }
    const size_t udp = fds.size();
    for (const auto& [identity, l] : listeners_)
      if (l.tcp) {
        fds.push_back({l.tcp.get(), POLLIN, 0});
        ids.push_back(identity);
      }
    const size_t conns = fds.size();
    tcp_.addPollFds(&fds);
    int n = ::poll(fds.data(), fds.size(), 100);
    if (n > 0) {
      for (size_t i = 0; i < udp; ++i)
        if (fds[i].revents & POLLIN) serve(ids[i], fds[i].fd);
      // Connections before new ones: a descriptor closed here may be reused
      // by an accept below.
      tcp_.handle(fds, conns);
      for (size_t i = udp; i < conns; ++i)
        if (fds[i].revents & POLLIN) tcp_.accept(ids[i], fds[i].fd);
    }
    tcp_.expire(std::chrono::steady_clock::now());
    std::lock_guard<std::mutex> lk(mu_);
    tcpConnections_ = tcp_.connections();
    tcpCounters_ = tcp_.counters();
  }
  for (const auto& [identity, l] : listeners_) tcp_.dropNetwork(identity);
  listeners_.clear();
}

NamesStatus NameService::status() const {
  NamesStatus s;
  s.on = engine_ != nullptr;
  std::lock_guard<std::mutex> lk(mu_);
  s.why = s.on ? engineError_ : offReason_;
  for (const auto& [identity, netns] : wantListen_) {
    NamesStatus::Net n{identity, netns, false, "", 0, 0};
    if (auto it = listenErrors_.find(identity); it != listenErrors_.end()) {
      n.listening = it->second.empty();
      n.error = it->second;
    }
    for (const auto& [set, answering] : table_.sets(identity))
      (set.owner.empty() ? n.localNames : n.remoteNames) += set.names.size();
    s.networks.push_back(n);
  }
  s.answered = answered_;
  s.refused = refused_;
  s.malformed = malformed_;
  s.recordsRefused = recordsRefused_;
  s.tcpConnections = tcpConnections_;
  s.tcp = tcpCounters_;
  return s;
}

}  // namespace weft::services
