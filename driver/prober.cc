#include "driver/prober.h"

#include <algorithm>
#include <set>

#include "common/ip.h"
#include "common/log.h"

namespace weft::driver {

namespace {
constexpr uint32_t kVxlanOverhead4 = 50;  // outer IPv4 + UDP + VXLAN + inner Ethernet
constexpr uint32_t kVxlanOverhead6 = 70;  // outer IPv6 (20 bytes more)
}  // namespace

const char* peerStateName(PeerHealth::State s) {
  switch (s) {
    case PeerHealth::State::kPending:
      return "pending";
    case PeerHealth::State::kOk:
      return "ok";
    case PeerHealth::State::kVxlanFails:
      return "vxlan-fails";
    case PeerHealth::State::kMtuFails:
      return "mtu-fails";
  }
  return "?";
}

Prober::Prober(kernel::Kernel& kernel, ProberConfig cfg, Clock clock)
    : kernel_(kernel), cfg_(std::move(cfg)), clock_(std::move(clock)) {}

Status Prober::validate(const ProberConfig& cfg) {
  auto self = IpAddr::parse(cfg.net.self);
  if (!self)
    return Error{EINVAL,
                 "data-plane probes need an IP address as ADVERTISE_ADDR (have \"" + cfg.net.self + "\")"};
  if (cfg.net.vni == 0 || cfg.net.vni > 0xffffff)
    return Error{EINVAL, "data-plane probes need a VNI (HEALTH_VNI) of 1-16777215"};
  if (cfg.failAfter < 1) return Error{EINVAL, "data-plane probes: failAfter must be at least 1"};
  return Status::Ok();
}

void Prober::round(const std::map<std::string, uint32_t>& peers) {
  std::lock_guard<std::mutex> roundLock(roundMu_);
  if (stopped_) return;
  // Who to probe: the first kMaxProbedPeers (by address, so a round probes
  // the same ones as the last), never this host.
  std::map<std::string, uint32_t> probed;
  size_t over = 0;
  // A peer of the other family cannot be reached over this underlay (a
  // mixed cluster is refused at start; see README).
  const auto self = IpAddr::parse(cfg_.net.self);
  for (const auto& [vtep, mtu] : peers) {
    auto v = IpAddr::parse(vtep);
    if (vtep == cfg_.net.self || !v || !self || v->family != self->family) continue;
    if (probed.size() >= kMaxProbedPeers) {
      ++over;
      continue;
    }
    probed.emplace(vtep, std::min(mtu, healthMtu(cfg_.net.self)));
  }

  // The health namespace exists while there is someone to probe (like a
  // sandbox, which exists while the host carries its network): a single
  // host keeps no objects for it.
  std::string setupError;
  std::vector<std::string> did;
  if (probed.empty()) {
    if (built_ != Built::kNo) {
      if (auto st = removeHealthNet(kernel_); st) {
        if (built_ == Built::kYes) LOG_INFO("health", "removed the health namespace: no peer host to probe");
        built_ = Built::kNo;
      } else {
        setupError = st.error().message;
      }
    }
  } else if (auto st = validate(cfg_); !st) {
    setupError = st.error().message;
  } else if (auto rs = reconcileHealthNet(kernel_, cfg_.net, &did); !rs) {
    setupError = rs.error().message;
    built_ = Built::kMaybe;
  } else {
    built_ = Built::kYes;
  }
  for (const auto& a : did) LOG_INFO("health", a);

  std::vector<kernel::EchoProbe> probes;
  std::vector<std::pair<std::string, bool>> what;  // (vtep, is the MTU probe)
  if (setupError.empty() && !probed.empty()) {
    std::set<std::string> vteps;
    for (const auto& [v, m] : probed) vteps.insert(v);
    if (auto s = syncHealthPeers(kernel_, vteps); !s.ok()) setupError = s.error().message;
    for (const auto& [vtep, mtu] : probed) {
      probes.push_back({vtep, kSmallProbeSize});
      what.emplace_back(vtep, false);
      if (mtu > kSmallProbeSize) {
        probes.push_back({vtep, mtu});
        what.emplace_back(vtep, true);
      }
    }
  }
  std::vector<kernel::EchoResult> results;
  if (setupError.empty() && !probes.empty()) {
    auto r = kernel_.echo(kHealthNetns, probes, cfg_.timeout);
    if (r.ok())
      results = std::move(*r);
    else
      setupError = "health namespace: echo probes: " + r.error().message;
  }

  std::lock_guard<std::mutex> lk(mu_);
  if (setupError != setupError_) {
    if (!setupError.empty())
      LOG_ERROR("health", setupError << "; no data-plane probes until it is fixed");
    else
      LOG_INFO("health", "data-plane probes running (vni " << cfg_.net.vni << ")");
  }
  setupError_ = setupError;
  notProbed_ = over;
  std::erase_if(peers_, [&](const auto& kv) { return !probed.count(kv.first); });
  for (const auto& [vtep, mtu] : probed) {
    PeerHealth& p = peers_[vtep];
    p.vtep = vtep;
    p.mtu = mtu;
  }
  if (!setupError.empty() || results.size() != probes.size()) return;  // nothing was measured
  std::map<std::string, std::pair<bool, bool>> got;                    // vtep -> (small ok, mtu ok)
  std::map<std::string, int> errors;
  std::map<std::string, uint32_t> rtt;
  for (size_t i = 0; i < probes.size(); ++i) {
    auto& [small, big] = got[what[i].first];
    if (!what[i].second) {
      small = results[i].ok;
      if (results[i].ok) rtt[what[i].first] = results[i].rttMicros;
      if (probed.at(what[i].first) <= kSmallProbeSize) big = results[i].ok;  // one probe does for both
    } else {
      big = results[i].ok;
    }
    if (results[i].error) errors[what[i].first] = results[i].error;
  }
  for (auto& [vtep, p] : peers_) {
    auto [small, big] = got[vtep];
    if (rtt.count(vtep)) {
      p.rttMicros = rtt[vtep];
      totals_.rtt.observe(rtt[vtep] / 1e6);
    }
    ++(small ? totals_.smallAnswered : totals_.smallLost);
    ++(big ? totals_.mtuAnswered : totals_.mtuLost);
    update(p, small, big, errors.count(vtep) ? errors[vtep] : 0);
  }
}

void Prober::update(PeerHealth& p, bool smallOk, bool mtuOk, int sendError) {
  const auto before = p.state;
  ++p.rounds;
  p.smallOk = smallOk;
  p.mtuOk = mtuOk;
  p.sendError = sendError;
  p.smallFailures = smallOk ? 0 : p.smallFailures + 1;
  p.mtuFailures = mtuOk ? 0 : p.mtuFailures + 1;
  if (!smallOk) ++p.smallLost;
  if (!mtuOk) ++p.mtuLost;
  if (smallOk) p.lastSuccess = clock_();
  if (p.smallFailures >= cfg_.failAfter)
    p.state = PeerHealth::State::kVxlanFails;
  else if (p.mtuFailures >= cfg_.failAfter)
    p.state = PeerHealth::State::kMtuFails;
  else if (smallOk && mtuOk)
    p.state = PeerHealth::State::kOk;
  // otherwise: keeps its state (a lost round does not flip ok or a failure)
  if (p.state != before)
    LOG_INFO("health", "data path to " << p.vtep << ": " << peerStateName(before) << " -> "
                                       << peerStateName(p.state) << " (small probe "
                                       << (smallOk ? "answered" : "lost") << ", " << p.mtu << "-byte probe "
                                       << (mtuOk ? "answered" : "lost") << ")");
}

std::vector<PeerHealth> Prober::peers() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<PeerHealth> out;
  for (const auto& [v, p] : peers_) out.push_back(p);
  return out;
}

ProbeTotals Prober::totals() const {
  std::lock_guard<std::mutex> lk(mu_);
  return totals_;
}

void Prober::setGossipStates(std::map<std::string, std::string> states) {
  std::lock_guard<std::mutex> lk(mu_);
  gossip_ = std::move(states);
}

std::vector<DataPlaneProblem> Prober::problems() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<DataPlaneProblem> out;
  if (!setupError_.empty()) out.push_back({"", "data-plane probes cannot run: " + setupError_});
  if (notProbed_)
    out.push_back({"", std::to_string(notProbed_) + " peer host(s) are not probed: at most " +
                           std::to_string(kMaxProbedPeers) + " are, per host"});
  const std::string port = std::to_string(cfg_.net.port);
  const auto window = std::to_string(cfg_.failAfter * cfg_.interval.count() / 1000);
  for (const auto& [vtep, p] : peers_) {
    if (p.state == PeerHealth::State::kVxlanFails) {
      auto gi = gossip_.find(vtep);
      const std::string g = gi == gossip_.end() ? "" : gi->second;
      if (g == "alive")
        out.push_back({vtep, "VXLAN to " + vtep + ":" + port +
                                 " fails while gossip reaches it (no probe answered for " + window +
                                 " s) -- check that UDP " + port +
                                 " passes between the hosts (firewall, security group, offload)"});
      else
        out.push_back({vtep, "VXLAN to " + vtep + ":" + port + " fails (no probe answered for " + window +
                                 " s) and gossip does not reach it either (member " +
                                 (g.empty() ? "unknown" : g) +
                                 ") -- the host is down or the network between the hosts is cut"});
    } else if (p.state == PeerHealth::State::kMtuFails) {
      out.push_back(
          {vtep, "packets of " + std::to_string(p.mtu) + " bytes to " + vtep +
                     " are lost but small ones pass -- MTU black hole on the path; lower the "
                     "network MTU (-o mtu=) or fix the underlay (every link must carry " +
                     std::to_string(p.mtu + (p.vtep.find(':') != std::string::npos ? kVxlanOverhead6
                                                                                   : kVxlanOverhead4)) +
                     "-byte packets)"});
    }
  }
  return out;
}

Status Prober::remove() { return removeHealthNet(kernel_); }

Status Prober::stop() {
  std::lock_guard<std::mutex> roundLock(roundMu_);
  stopped_ = true;
  built_ = Built::kNo;
  return removeHealthNet(kernel_);
}

}  // namespace weft::driver
