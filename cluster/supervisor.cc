#include "cluster/supervisor.h"

#include <algorithm>

#include "cluster/ipc_channel.h"
#include "common/host_port.h"
#include "common/log.h"

namespace weft::cluster {

using namespace std::chrono;

namespace {

// At most this many messages leave the sender per turn of its lock.
constexpr size_t kSendBatch = 256;

driver::EndpointRecord toDriver(const ipc::Record& r) {
  return {r.network, r.endpoint, r.ipv4, r.ipv6, r.mac, r.vtep};
}

ipc::Record toIpc(const driver::EndpointRecord& r) {
  return {r.network, r.endpoint, r.ipv4, r.ipv6, r.mac, r.vtep};
}

}  // namespace

Supervisor::Supervisor(SupervisorOptions opts, SidecarLauncher& launcher, driver::PeerSink& sink)
    : opts_(std::move(opts)), launcher_(launcher), sink_(sink) {
  for (const auto& s : opts_.config.seeds) {
    std::string full = withPort(s);
    if (std::find(seeds_.begin(), seeds_.end(), full) == seeds_.end()) seeds_.push_back(full);
  }
}

Supervisor::~Supervisor() { stop(); }

std::string Supervisor::withPort(const std::string& a) const {
  // Anything that is not an address (with or without a port) goes to the
  // sidecar as it is, which refuses it with a message naming it.
  auto hp = HostPort::parseOrDefaultPort(a, opts_.port);
  return hp ? hp->str() : a;
}

void Supervisor::start() {
  supervisor_ = std::thread([this] { superviseLoop(); });
  sender_ = std::thread([this] { senderLoop(); });
  pruner_ = std::thread([this] { prunerLoop(); });
  watchdog_ = std::thread([this] { watchdogLoop(); });
}

void Supervisor::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) return;
    stopping_ = true;
    if (sidecar_) sidecar_->terminate();
  }
  cv_.notify_all();
  sendCv_.notify_all();
  for (auto* t : {&supervisor_, &sender_, &pruner_, &watchdog_})
    if (t->joinable()) t->join();
}

int Supervisor::restarts() const {
  std::lock_guard<std::mutex> lk(mu_);
  return restarts_;
}

int Supervisor::livenessKills() const {
  std::lock_guard<std::mutex> lk(mu_);
  return livenessKills_;
}

pid_t Supervisor::sidecarPid() const {
  std::lock_guard<std::mutex> lk(mu_);
  return sidecar_ ? sidecar_->pid() : -1;
}

uint64_t Supervisor::refusedMessages() const {
  std::lock_guard<std::mutex> lk(mu_);
  return refused_;
}

uint64_t Supervisor::droppedRecords() const {
  std::lock_guard<std::mutex> lk(mu_);
  return dropped_;
}

size_t Supervisor::pendingSends() const {
  std::lock_guard<std::mutex> lk(mu_);
  return dirty_.size();
}

// ---------------------------------------------------------------- outgoing

void Supervisor::publish(const driver::EndpointRecord& r) {
  Key k{r.network, r.endpoint};
  std::lock_guard<std::mutex> lk(mu_);
  auto [it, added] = published_.insert_or_assign(k, toIpc(r));
  if (added) ++carried_[r.network];
  dirty_.insert(k);
  sendCv_.notify_one();
}

void Supervisor::withdraw(const std::string& network, const std::string& endpoint) {
  Key k{network, endpoint};
  std::lock_guard<std::mutex> lk(mu_);
  if (published_.erase(k) && --carried_[network] == 0) carried_.erase(network);
  if (told_.count(k)) {
    dirty_.insert(k);
    sendCv_.notify_one();
  } else {
    dirty_.erase(k);  // the sidecar never heard of it: nothing to send
  }
}

void Supervisor::addSeed(const std::string& address) {
  std::lock_guard<std::mutex> lk(mu_);
  std::string s = withPort(address);
  // One underlay family per cluster: the sidecar's sockets are bound to the
  // advertise address, so a seed of the other family (a swarm node's
  // address, say) could never be reached; it is left out, said once.
  auto self = HostPort::parse(opts_.config.advertise), seed = HostPort::parse(s);
  if (self && seed && self->addr.isV6() != seed->addr.isV6()) {
    if (std::find(refusedSeeds_.begin(), refusedSeeds_.end(), s) == refusedSeeds_.end()) {
      refusedSeeds_.push_back(s);
      LOG_WARN("cluster", "not gossiping with " << s << ": it is " << (seed->addr.isV6() ? "IPv6" : "IPv4")
                                                << " but this host advertises " << opts_.config.advertise
                                                << "; weft does not mix underlay families in one cluster");
    }
    return;
  }
  if (std::find(seeds_.begin(), seeds_.end(), s) != seeds_.end()) return;
  seeds_.push_back(s);
  seedsToSend_.push_back(s);  // the next sidecar gets it in its configuration
  sendCv_.notify_one();
}

void Supervisor::senderLoop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    sendCv_.wait(lk, [&] {
      return stopping_ || (ready_ && (!dirty_.empty() || !seedsToSend_.empty() || leases_.dirty() ||
                                      names_.dirty() || mcast_.dirty()));
    });
    if (stopping_) return;
    SidecarPtr to = sidecar_;
    std::vector<ipc::ToSidecar> batch;
    if (!seedsToSend_.empty()) {
      batch.push_back(ipc::SeedsMsg{seedsToSend_});
      seedsToSend_.clear();
    }
    while (!dirty_.empty() && batch.size() < kSendBatch) {
      Key k = *dirty_.begin();
      dirty_.erase(dirty_.begin());
      auto want = published_.find(k);
      auto told = told_.find(k);
      if (want != published_.end()) {
        if (told != told_.end() && told->second == want->second) continue;
        told_[k] = want->second;
        batch.push_back(ipc::PublishMsg{want->second});
      } else if (told != told_.end()) {
        told_.erase(told);
        batch.push_back(ipc::WithdrawMsg{k.first, k.second});
      }
    }
    takeLeaseSendsLocked(&batch, kSendBatch);
    takeNamesSendsLocked(&batch, kSendBatch);
    takeMcastSendsLocked(&batch, kSendBatch);
    // Without the lock (publishers wait for it while holding the driver's):
    // encoding, and sending, which blocks while the sidecar does not read.
    // If the channel breaks, the next sidecar's configuration carries it all.
    lk.unlock();
    for (const auto& m : batch) {
      if (auto st = ipc::send(to->fd(), ipc::encode(m)); !st) {
        LOG_WARN("gossip", "cannot reach weft-gossip: " << st.error().message);
        break;
      }
    }
    lk.lock();
  }
}

bool Supervisor::spawn() {
  auto launched = launcher_.launch();
  if (!launched.ok()) {
    LOG_ERROR("gossip", "cannot start weft-gossip: " << launched.error().message);
    return false;
  }
  SidecarPtr sc = *launched;
  ipc::ConfigMsg cfg = opts_.config;
  std::vector<ipc::Record> endpoints;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) {
      sc->terminate();
      sc->wait();
      return false;
    }
    cfg.seeds = seeds_;
    seedsToSend_.clear();
    told_ = published_;
    dirty_.clear();
    leases_.forgetTold();  // leases follow the ready (only endpoints may precede it)
    names_.forgetTold();   // names too
    mcast_.forgetTold();   // and multicast advertisements
    for (const auto& [k, r] : published_) endpoints.push_back(r);
    sidecar_ = sc;
    ready_ = false;
    killedForSilence_ = false;
    aliveLocked();
  }
  // Our endpoints before it joins, so the join's sync carries our networks;
  // one message each, so no message grows with the number of endpoints.
  // Each send that returns proves the sidecar takes them (once the socket
  // buffer is full a send waits for it to read): a long configuration is
  // progress, not silence.
  Status st = ipc::send(sc->fd(), ipc::encode(cfg));
  for (size_t i = 0; st && i < endpoints.size(); ++i) {
    st = ipc::send(sc->fd(), ipc::encode(ipc::PublishMsg{endpoints[i]}));
    if (st && i % 64 == 63) {
      std::lock_guard<std::mutex> lk(mu_);
      aliveLocked();
    }
  }
  if (st) st = ipc::send(sc->fd(), ipc::encode(ipc::StartMsg{}));
  if (!st) LOG_WARN("gossip", "cannot configure weft-gossip: " << st.error().message);
  return true;
}

// ---------------------------------------------------------------- incoming

void Supervisor::refuse(const std::string& why) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    ++refused_;
  }
  size_t suppressed = 0;
  if (refusedLog_.allow(&suppressed))
    LOG_WARN("gossip",
             "refused a message from weft-gossip: "
                 << why
                 << (suppressed ? " (" + std::to_string(suppressed) + " more refused since the last report)"
                                : std::string()));
}

void Supervisor::serve(const SidecarPtr& sidecar) {
  for (;;) {
    auto text = ipc::recv(sidecar->fd());
    if (!text.ok()) return;
    auto m = ipc::decodeFromSidecar(*text);
    if (!m.ok()) {
      refuse(m.error().message);
      continue;
    }
    handle(*m);
  }
}

void Supervisor::handle(const ipc::FromSidecar& m) {
  if (const auto* rec = std::get_if<ipc::RecordEvent>(&m)) {
    handleRecord(*rec);
  } else if (std::holds_alternative<ipc::ReadyEvent>(m)) {
    sink_.beginResync();  // remote endpoints not reported again get pruned
    if (nameSink_) nameSink_->resyncNames();
    if (mcastSink_) mcastSink_->resyncMcast();
    std::lock_guard<std::mutex> lk(mu_);
    ready_ = true;
    ++readyGen_;
    aliveLocked();
    // What changed between the configuration and now goes out next.
    for (const auto& [k, r] : published_) dirty_.insert(k);
    for (const auto& [k, r] : told_) dirty_.insert(k);
    leases_.markAllDirty();
    names_.markAllDirty();
    mcast_.markAllDirty();
    cv_.notify_all();
    sendCv_.notify_all();
  } else if (const auto* st = std::get_if<ipc::StatusEvent>(&m)) {
    std::lock_guard<std::mutex> lk(mu_);
    lastStatus_ = *st;
    ++statusGen_;
    aliveLocked();
    cv_.notify_all();
  } else if (std::holds_alternative<ipc::PongEvent>(m)) {
    std::lock_guard<std::mutex> lk(mu_);
    aliveLocked();
  } else if (const auto* lease = std::get_if<ipc::LeaseEvent>(&m)) {
    handleLease(*lease);
  } else if (const auto* names = std::get_if<ipc::NamesEvent>(&m)) {
    handleNames(*names);
  } else if (const auto* mc = std::get_if<ipc::McastEvent>(&m)) {
    handleMcast(*mc);
  } else if (const auto* mem = std::get_if<ipc::MemberEvent>(&m)) {
    sink_.memberChanged(mem->id, mem->alive);
  } else if (const auto* err = std::get_if<ipc::ErrorEvent>(&m)) {
    LOG_ERROR("gossip", "weft-gossip: " << err->message);
  }
}

void Supervisor::handleRecord(const ipc::RecordEvent& m) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    Key k{m.record.network, m.record.endpoint};
    // The sidecar carries only our networks; anything else is not stored.
    bool pass = m.active ? carried_.count(k.first) > 0 : applied_.erase(k) > 0;
    if (!pass) {
      ++dropped_;
      return;
    }
    if (m.active) applied_.insert(k);
  }
  sink_.applyRemote(toDriver(m.record),
                    m.active ? driver::RecordState::kActive : driver::RecordState::kWithdrawn);
  if (nameSink_) nameSink_->endpointRecord(toDriver(m.record), m.owner, m.active);
}

Result<ipc::StatusEvent> Supervisor::status(Millis timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  if (!sidecar_ || !ready_)
    return Error{ENOTCONN, "weft-gossip is not running (restarts so far: " + std::to_string(restarts_) + ")"};
  SidecarPtr to = sidecar_;
  uint64_t gen = statusGen_;
  lk.unlock();
  // Never waits for room: a stopped sidecar makes this fail, not hang.
  auto sent = ipc::send(to->fd(), ipc::encode(ipc::StatusRequest{}), ipc::SendMode::kNonBlocking);
  lk.lock();
  if (!sent || !cv_.wait_for(lk, timeout, [&] { return statusGen_ != gen || stopping_; }) || !lastStatus_)
    return Error{ETIMEDOUT, "weft-gossip did not answer"};
  ipc::StatusEvent s = *lastStatus_;
  s.restarts = static_cast<uint64_t>(restarts_);
  return s;
}

// ---------------------------------------------------------------- policy

void Supervisor::superviseLoop() {
  Millis backoff = opts_.backoffInitial;
  for (;;) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stopping_) return;
    }
    auto started = steady_clock::now();
    if (spawn()) {
      SidecarPtr sc;
      {
        std::lock_guard<std::mutex> lk(mu_);
        sc = sidecar_;
      }
      serve(sc);
      sc->terminate();
      std::string how = sc->wait();
      {
        std::lock_guard<std::mutex> lk(mu_);
        sidecar_.reset();
        ready_ = false;
        if (stopping_) return;
        ++restarts_;
      }
      if (steady_clock::now() - started > opts_.healthyAfter) backoff = opts_.backoffInitial;
      LOG_WARN("gossip", "weft-gossip stopped (" << how << "); restarting in " << backoff.count()
                                                 << " ms; established traffic is not affected");
    }
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait_for(lk, backoff, [&] { return stopping_; });
    backoff = std::min(backoff * 2, opts_.backoffMax);
  }
}

void Supervisor::watchdogLoop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    if (cv_.wait_for(lk, opts_.livenessInterval, [&] { return stopping_; })) return;
    if (!sidecar_ || killedForSilence_) continue;
    SidecarPtr sc = sidecar_;
    auto silent = duration_cast<milliseconds>(steady_clock::now() - lastAlive_);
    if (silent > opts_.livenessDeadline) {
      killedForSilence_ = true;
      ++livenessKills_;
      lk.unlock();
      // The supervise loop sees its channel close and restarts it as usual.
      LOG_WARN("gossip", "weft-gossip (pid " << sc->pid() << ") has shown no sign of life for "
                                             << silent.count() << " ms (deadline "
                                             << opts_.livenessDeadline.count()
                                             << " ms): stopped, deadlocked or spinning; killing it");
      sc->kill();
      lk.lock();
      continue;
    }
    if (!ready_) continue;  // before ready it reads only its configuration
    uint64_t seq = ++pingSeq_;
    lk.unlock();
    // Never waits: a full channel is the silence this measures.
    ipc::send(sc->fd(), ipc::encode(ipc::PingMsg{seq}), ipc::SendMode::kNonBlocking);
    lk.lock();
  }
}

void Supervisor::prunerLoop() {
  std::unique_lock<std::mutex> lk(mu_);
  uint64_t seen = 0;
  while (!stopping_) {
    cv_.wait(lk, [&] { return stopping_ || (ready_ && readyGen_ != seen); });
    if (stopping_) break;
    seen = readyGen_;
    // Give the new sidecar time to sync, then prune, then keep pruning.
    Millis wait = opts_.pruneAfterReady;
    while (!stopping_ && readyGen_ == seen) {
      if (cv_.wait_for(lk, wait, [&] { return stopping_ || readyGen_ != seen; })) break;
      if (!ready_) break;
      lk.unlock();
      sink_.prunePeers();
      lk.lock();
      wait = opts_.prunePeriod;
    }
  }
}

}  // namespace weft::cluster
