#include "driver/userspace_plane.h"

#include <arpa/inet.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/json_file.h"
#include "common/log.h"
#include "datapath/datapath.h"
#include "datapath/loop.h"
#include "driver/names.h"
#include "driver/network_policy.h"
#include "kernel/tap.h"

namespace weft::driver {

namespace {

// The datapath thread's nice value. It does for encrypted networks what the
// kernel's softirq does for plain ones -- which preempts any process -- so
// at the default weight it queues behind every CPU-bound process of the host
// and encrypted throughput falls with the host's load while plain does not
// (bench/docker/encrypted_throughput.sh shows the run-queue wait). -10
// weighs ~9x a default process: ahead of them, but a weight, not a real-time
// class: a busy datapath cannot starve the host. Needs CAP_SYS_NICE (root
// has it; the managed plugin may not): without it the thread stays at 0.
constexpr int kDatapathNice = -10;

// Keys change by time (and by count, far out of reach at 2^32 packets): an
// epoch block of 2^16 then lasts over a year of uptime.
datapath::RekeyPolicy planePolicy() {
  datapath::RekeyPolicy p;
  p.maxPackets = datapath::kMaxPacketsPerKey;
  p.maxAge = std::chrono::seconds(600);
  p.overlap = std::chrono::seconds(60);
  return p;
}

Result<uint32_t> readEpochFile(const std::string& path) {
  auto text = readFile(path);
  if (!text.ok()) {
    if (text.code() == ENOENT) return 1u;  // first start on this host
    return Error{text.code(), "reading " + path + ": " + text.error().message};
  }
  std::string s = *text;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.empty() || s.size() > 10 || !std::all_of(s.begin(), s.end(), ::isdigit))
    return Error{EINVAL, path + " holds \"" + s +
                             "\", not an epoch number; weft will not guess one (a reused epoch reuses "
                             "nonces): restore the file or remove it together with every other host's"};
  uint64_t v = std::stoull(s);
  if (v == 0 || v > UINT32_MAX - 2 * uint64_t{kEpochBlock})
    return Error{ERANGE, path + ": epoch " + s + " is out of range (the epochs of this host are used up)"};
  return static_cast<uint32_t>(v);
}

}  // namespace

uint32_t UserspacePlane::senderIdOf(const std::string& addr) {
  in_addr a4{};
  if (::inet_pton(AF_INET, addr.c_str(), &a4) == 1) return ntohl(a4.s_addr);
  return stableHash(addr);
}

UserspacePlane::UserspacePlane(kernel::Kernel& kernel, UserspacePlaneConfig cfg)
    : kernel_(kernel), cfg_(std::move(cfg)), io_(std::make_unique<datapath::IoCounters>()) {}

UserspacePlane::~UserspacePlane() {
  std::lock_guard<std::mutex> lk(mu_);
  pauseLocked();
}

Result<std::unique_ptr<UserspacePlane>> UserspacePlane::start(kernel::Kernel& kernel,
                                                              UserspacePlaneConfig cfg) {
  if (cfg.key.size() != 32) return Error{EINVAL, "the encrypted datapath needs the 32-byte cluster key"};
  if (cfg.port == 0) return Error{EINVAL, "ENCRYPTED_PORT must not be 0"};
  std::unique_ptr<UserspacePlane> p(new UserspacePlane(kernel, std::move(cfg)));
  auto first = readEpochFile(p->cfg_.epochFile);
  if (!first.ok()) return first.error();
  p->startEpoch_ = *first;
  p->reservedUpTo_ = *first;
  {
    std::lock_guard<std::mutex> lk(p->mu_);
    if (auto st = p->reserveLocked(); !st) return st.error();
  }
  auto udp = kernel::openDatapathSocket("", p->cfg_.self, p->cfg_.port);
  if (!udp.ok())
    return Error{udp.code(), "encrypted datapath socket " + p->cfg_.self + ":" +
                                 std::to_string(p->cfg_.port) + ": " + udp.error().message};
  p->udp_ = std::move(*udp);
  p->dp_ = std::make_unique<datapath::Datapath>(p->cfg_.self, senderIdOf(p->cfg_.self));
  p->loadPeersFile();
  LOG_INFO("crypto", "userspace datapath on udp "
                         << p->cfg_.self << ":" << p->cfg_.port << ", key epochs from " << p->startEpoch_
                         << " (reserved up to " << p->reservedUpTo_ << " in " << p->cfg_.epochFile << ")");
  return p;
}

Status UserspacePlane::reserveLocked() {
  const uint32_t next = reservedUpTo_ + kEpochBlock;
  if (next > UINT32_MAX - kEpochBlock) return Error{ERANGE, "the datapath's key epochs are used up"};
  if (auto st = writeFileAtomic(cfg_.epochFile, std::to_string(next) + "\n"); !st)
    return Error{st.code(), "reserving key epochs in " + cfg_.epochFile + ": " + st.error().message};
  reservedUpTo_ = next;
  return Status::Ok();
}

void UserspacePlane::pauseLocked() {
  if (!loop_) return;
  loop_->stop();
  if (thread_.joinable()) thread_.join();
  const auto& c = loop_->counters();
  io_->tapFrames += c.tapFrames;
  io_->tapSuperFrames += c.tapSuperFrames;
  io_->tapDropped += c.tapDropped;
  io_->noRoute += c.noRoute;
  io_->groupPruned += c.groupPruned;
  io_->udpSent += c.udpSent;
  io_->udpSendErrors += c.udpSendErrors;
  io_->udpGsoRefused += c.udpGsoRefused;
  io_->udpGsoSends += c.udpGsoSends;
  io_->udpBuffers += c.udpBuffers;
  io_->udpReceived += c.udpReceived;
  io_->tapWritten += c.tapWritten;
  io_->tapCoalesced += c.tapCoalesced;
  io_->tapWriteErrors += c.tapWriteErrors;
  io_->noTap += c.noTap;
  loop_.reset();
}

void UserspacePlane::resumeLocked() {
  if (nets_.empty()) return;  // nothing to carry; received packets wait (and are dropped by the kernel)
  loop_ = std::make_unique<datapath::DatapathLoop>(*dp_, udp_.get(), kernel::kTapVnetHdrSize);
  for (const auto& [id, n] : nets_) (void)loop_->addTap(n.spec.vni, n.tap.get());
  thread_ = std::thread([l = loop_.get()] {
    // The loop restarts whenever the plane is paused (counters read, peers
    // changed): said once per process, not at each restart.
    static std::atomic<bool> warned{false};
    if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kDatapathNice) != 0 &&
        !warned.exchange(true))
      LOG_WARN("crypto", "datapath thread stays at the default priority, not nice " << kDatapathNice << ": "
                                                                                    << std::strerror(errno));
    if (auto st = l->run(); !st) LOG_ERROR("crypto", "datapath loop stopped: " << st.error().message);
  });
}

Status UserspacePlane::attach(const EncryptedNetwork& n) {
  std::lock_guard<std::mutex> lk(mu_);
  if (auto it = nets_.find(n.identity); it != nets_.end()) {
    // Attached already (a repair reconciles again): fine while its TAP is
    // still there. A sandbox rebuilt in a new namespace has a fresh br0 and
    // no TAP; the descriptor held is of the old one, so start over.
    if (it->second.spec.vni == n.vni && it->second.spec.netns == n.netns &&
        kernel_.getLink(n.netns, kEncryptedTapName).ok())
      return Status::Ok();
    pauseLocked();
    (void)dp_->removeNetwork(it->second.spec.vni);
    nets_.erase(it);
    resumeLocked();
  }
  // The TAP persists: a restart finds it on br0 and opens it again.
  auto q = kernel::openTapQueues(kernel_.netnsPath(n.netns), kernel::TapSpec{kEncryptedTapName, 1});
  if (!q.ok())
    return Error{q.code(), "encrypted port " + std::string(kEncryptedTapName) + ": " + q.error().message};
  auto undo = [&](const Status& st, const std::string& what) -> Status {
    kernel_.deleteLink(n.netns, kEncryptedTapName);
    return Error{st.code(), what + ": " + st.error().message};
  };
  if (auto st = kernel_.setMtu(n.netns, kEncryptedTapName, n.mtu); !st)
    return undo(st, "set mtu of the encrypted port");
  if (auto st = kernel_.setMaster(n.netns, kEncryptedTapName, kBridgeName); !st)
    return undo(st, "attach the encrypted port to br0");
  if (auto st = kernel_.setLinkUp(n.netns, kEncryptedTapName, true); !st)
    return undo(st, "set the encrypted port up");
  pauseLocked();
  auto st = dp_->addNetwork(n.vni, n.identity, cfg_.key, planePolicy(), cfg_.port);
  if (!st) {
    resumeLocked();
    return undo(st, "encrypted datapath");
  }
  Net net;
  net.spec = n;
  net.tap = std::move((*q)[0]);
  Net& added = nets_[n.identity] = std::move(net);
  resumeLocked();
  LOG_INFO("crypto", "encrypted network " << n.identity << " (vni " << n.vni << ") on " << kEncryptedTapName
                                          << " in " << n.netns);
  // After a restart: forwarding resumes with the entries kept from before,
  // without waiting for the gossip sidecar to start and resync.
  if (auto r = restored_.find(n.identity); r != restored_.end() && !(r->second == PeerEntries{})) {
    applyLocked(n.identity, added, effectiveLocked(n.identity, added.desired));
    LOG_INFO("crypto", n.identity << ": " << added.entries.fdb.size() << " remote MACs and "
                                  << added.entries.flood.size() << " peers kept from before the restart ("
                                  << cfg_.peersFile << ")");
  }
  return Status::Ok();
}

void UserspacePlane::detach(const std::string& identity) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = nets_.find(identity);
  if (it == nets_.end()) return;
  pauseLocked();
  (void)dp_->removeNetwork(it->second.spec.vni);
  nets_.erase(it);
  resumeLocked();
  restored_.erase(identity);
  savePeersLocked();
}

void UserspacePlane::setPeers(const std::string& identity, const PeerEntries& desired) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = nets_.find(identity);
  if (it == nets_.end()) return;
  it->second.desired = desired;
  auto entries = effectiveLocked(identity, desired);
  if (it->second.entries == entries) return;
  applyLocked(identity, it->second, entries);
  savePeersLocked();
}

void UserspacePlane::pruneRestored() {
  std::lock_guard<std::mutex> lk(mu_);
  if (restored_.empty()) return;
  restored_.clear();
  for (auto& [identity, n] : nets_)
    if (!(n.entries == n.desired)) {
      applyLocked(identity, n, n.desired);
      LOG_INFO("crypto",
               identity << ": entries kept from before the restart dropped, the cluster has resynced ("
                        << n.entries.fdb.size() << " remote MACs, " << n.entries.flood.size() << " peers)");
    }
  savePeersLocked();
}

PeerEntries UserspacePlane::effectiveLocked(const std::string& identity, const PeerEntries& desired) const {
  auto r = restored_.find(identity);
  if (r == restored_.end()) return desired;
  // The cluster's entries win; a kept MAC or IP the cluster maps elsewhere
  // is its old place.
  PeerEntries out = desired;
  for (const auto& [ip, mac] : r->second.neigh) out.neigh.emplace(ip, mac);
  for (const auto& [mac, vtep] : r->second.fdb) out.fdb.emplace(mac, vtep);
  out.flood.insert(r->second.flood.begin(), r->second.flood.end());
  return out;
}

void UserspacePlane::applyLocked(const std::string& identity, Net& n, const PeerEntries& entries) {
  const uint32_t vni = n.spec.vni;
  pauseLocked();
  auto* fdb = dp_->forwarding(vni);
  // New peers get sessions; a session, once made, stays for this run (a
  // peer coming back must not start its epochs again).
  const auto now = datapath::Clock::now();
  for (const auto& vtep : entries.flood) {
    if (n.peers.count(vtep)) continue;
    datapath::Datapath::PeerSpec ps;
    ps.host = vtep;
    ps.senderId = senderIdOf(vtep);
    ps.vtep = vtep;
    ps.txStartEpoch = std::max(startEpoch_, dp_->maxTxEpoch() + 1);
    if (ps.txStartEpoch >= reservedUpTo_) {
      if (auto st = reserveLocked(); !st) {
        LOG_ERROR("crypto", "peer " << vtep << " of " << identity << ": " << st.error().message);
        continue;
      }
    }
    if (auto st = dp_->addPeer(vni, ps, now); !st) {
      LOG_WARN("crypto", "peer " << vtep << " of " << identity << ": " << st.error().message);
      continue;
    }
    n.peers.insert(vtep);
  }
  for (const auto& vtep : n.entries.flood)
    if (!entries.flood.count(vtep)) (void)fdb->removeFloodPeer(vtep);
  for (const auto& vtep : entries.flood)
    if (!n.entries.flood.count(vtep) && n.peers.count(vtep)) (void)fdb->addFloodPeer(vtep);
  for (const auto& [mac, vtep] : n.entries.fdb)
    if (!entries.fdb.count(mac)) (void)fdb->removeMac(mac);
  for (const auto& [mac, vtep] : entries.fdb) {
    auto old = n.entries.fdb.find(mac);
    if (old != n.entries.fdb.end() && old->second == vtep) continue;
    if (auto st = fdb->setMac(mac, vtep); !st)
      LOG_WARN("crypto", "forwarding entry " << mac << " -> " << vtep << ": " << st.error().message);
  }
  n.entries = entries;
  applyGroupsLocked(n, true);
  resumeLocked();
  LOG_DEBUG("crypto",
            identity << ": " << entries.fdb.size() << " remote MACs, " << entries.flood.size() << " peers");
}

void UserspacePlane::setGroups(const std::string& identity, const GroupRoutes& routes) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = nets_.find(identity);
  if (it == nets_.end() || it->second.routes == routes) return;
  it->second.routes = routes;
  applyGroupsLocked(it->second, false);
}

void UserspacePlane::applyGroupsLocked(Net& n, bool paused) {
  // Only peers with a session can be sent to: the flood list's.
  std::set<std::string> flood;
  for (const auto& v : n.entries.flood)
    if (n.peers.count(v)) flood.insert(v);
  auto want = groupPeers(n.routes, flood);
  if (want == n.groups) return;
  if (!paused) pauseLocked();
  auto* fdb = dp_->forwarding(n.spec.vni);
  for (const auto& [g, peers] : n.groups)
    if (!want.count(g)) (void)fdb->removeGroup(g);
  for (const auto& [g, peers] : want) {
    auto old = n.groups.find(g);
    if (old != n.groups.end() && old->second == peers) continue;
    if (auto st = fdb->setGroup(g, peers); !st) {
      // Left flooded (to every peer): more traffic, nothing missed.
      LOG_WARN("crypto",
               "multicast group " << g.str() << " of " << n.spec.identity << ": " << st.error().message);
      (void)fdb->removeGroup(g);
    }
  }
  n.groups = std::move(want);
  if (!paused) resumeLocked();
  LOG_DEBUG("crypto",
            n.spec.identity << ": " << n.groups.size() << " multicast group(s) with their own hosts");
}

void UserspacePlane::tick() {
  std::lock_guard<std::mutex> lk(mu_);
  if (!dp_) return;
  if (dp_->maxTxEpoch() + kEpochBlock / 2 >= reservedUpTo_)
    if (auto st = reserveLocked(); !st) LOG_ERROR("crypto", st.error().message);
  writePeersLocked();
}

nlohmann::json UserspacePlane::rotate() {
  std::lock_guard<std::mutex> lk(mu_);
  pauseLocked();  // the loop's thread owns the sessions
  const size_t rotated = dp_->rotateAll(datapath::Clock::now());
  // The epochs just used must be reserved before anything is sealed with
  // them (as tick() does on the way).
  if (dp_->maxTxEpoch() + kEpochBlock / 2 >= reservedUpTo_)
    if (auto st = reserveLocked(); !st) LOG_ERROR("crypto", st.error().message);
  resumeLocked();
  LOG_INFO("crypto",
           "key rotation on request: " << rotated << " sender session(s) moved to their next epoch");
  return nlohmann::json{{"rotated", rotated}};
}

nlohmann::json UserspacePlane::status() {
  std::lock_guard<std::mutex> lk(mu_);
  pauseLocked();  // the loop's thread owns the counters: read them while it waits
  auto counters = [](const datapath::Counters& c) {
    return nlohmann::json{{"sealedPackets", c.sealedPackets},
                          {"sealedBytes", c.sealedBytes},
                          {"sealFailed", c.sealFailed},
                          {"rekeys", c.rekeys},
                          {"openedPackets", c.openedPackets},
                          {"openedBytes", c.openedBytes},
                          {"authFailed", c.authFailed},
                          {"replayed", c.replayed},
                          {"staleKey", c.staleKey},
                          {"truncated", c.truncated + c.tooBig},
                          {"badHeader", c.badHeader + c.badVersion},
                          {"unknownSender", c.unknownSender},
                          {"malformedInner", c.malformedInner}};
  };
  nlohmann::json nets = nlohmann::json::array();
  for (const auto& [id, n] : nets_) {
    nlohmann::json peers = nlohmann::json::array();
    for (const auto& p : dp_->peers(n.spec.vni)) {
      auto j = counters(p.counters);
      j["host"] = p.host;
      j["addr"] = p.addr;
      j["senderId"] = p.senderId;
      j["txEpoch"] = p.txEpoch;
      j["active"] = n.entries.flood.count(p.host) > 0;
      peers.push_back(j);
    }
    nets.push_back({{"identity", id},
                    {"vni", n.spec.vni},
                    {"backend", "userspace"},
                    {"port", kEncryptedTapName},
                    {"remoteMacs", n.entries.fdb.size()},
                    {"peers", peers}});
  }
  datapath::IoCounters io = *io_;
  nlohmann::json out{{"backend", "userspace"},
                     {"listen", cfg_.self + ":" + std::to_string(cfg_.port)},
                     {"epochStart", startEpoch_},
                     {"epochReservedUpTo", reservedUpTo_},
                     {"unattributed", counters(dp_->unattributed())},
                     {"io",
                      {{"tapFrames", io.tapFrames},
                       {"tapSuperFrames", io.tapSuperFrames},
                       {"tapDropped", io.tapDropped},
                       {"noRoute", io.noRoute},
                       {"groupPruned", io.groupPruned},
                       {"udpSent", io.udpSent},
                       {"udpSendErrors", io.udpSendErrors},
                       {"udpGsoSends", io.udpGsoSends},
                       {"udpGsoRefused", io.udpGsoRefused},
                       {"udpBuffers", io.udpBuffers},
                       {"udpReceived", io.udpReceived},
                       {"tapWritten", io.tapWritten},
                       {"tapCoalesced", io.tapCoalesced},
                       {"tapWriteErrors", io.tapWriteErrors},
                       {"noTap", io.noTap}}},
                     {"networks", nets}};
  resumeLocked();
  return out;
}

}  // namespace weft::driver
