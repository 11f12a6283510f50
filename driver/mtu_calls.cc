// The driver and the network MTU records (driver/network_mtus.h): this
// host publishes its MTU of every network it carries, learns the other
// hosts', and says which hosts of a network disagree (weftctl check,
// metrics, the log).

#include "common/log.h"
#include "driver/driver.h"

namespace weft::driver {

bool Driver::NetworkMtuView::mismatch() const {
  for (const auto& [host, m] : hosts)
    if (m != mtu) return true;
  return false;
}

std::map<std::string, uint32_t> Driver::mtuUseLocked() const {
  std::map<std::string, uint32_t> use;
  for (const auto& [id, n] : networks_) use[n.identity] = n.mtu;
  return use;
}

void Driver::syncMtuRecordsLocked() {
  auto want = mtuUseLocked();
  // Records need this host's underlay address (their owner): a host that
  // publishes nothing else publishes no MTU either.
  if (!cluster_ || cfg_.advertiseAddr.empty()) return;
  const std::string& self = cfg_.advertiseAddr;
  for (const auto& [identity, mtu] : want) {
    auto it = publishedMtus_.find(identity);
    if (it == publishedMtus_.end() || it->second != mtu)
      cluster_->publishMtu(NetworkMtus::record(identity, mtu, self));
  }
  for (const auto& [identity, mtu] : publishedMtus_)
    if (!want.count(identity)) {
      auto r = NetworkMtus::record(identity, mtu, self);
      cluster_->withdrawMtu(r.network, r.endpoint);
    }
  publishedMtus_ = std::move(want);
}

void Driver::applyMtuRecordLocked(const EndpointRecord& r, bool active) {
  if (auto st = mtus_.apply(r, active, cfg_.advertiseAddr); !st) {
    // Forged or corrupt: refused, and said (rarely: a member could repeat it).
    ++refusedMtuRecords_;
    if ((refusedMtuRecords_ & (refusedMtuRecords_ - 1)) == 0)
      LOG_WARN("driver", "refused " << st.error().message << " (" << refusedMtuRecords_ << " so far)");
    return;
  }
  // Both hosts get the other's record, so both log the mismatch (once each,
  // again if it comes back after being resolved).
  std::map<std::string, std::string> idOf;  // identity -> local network id
  for (const auto& [id, n] : networks_) idOf[n.identity] = id;
  std::set<std::string> now;
  for (const auto& m : mtus_.mismatches(mtuUseLocked())) {
    std::string key =
        m.identity + "|" + m.host + "|" + std::to_string(m.theirs) + "|" + std::to_string(m.ours);
    now.insert(key);
    if (loggedMtuMismatches_.count(key)) continue;
    LOG_ERROR("driver", "network " << idOf[m.identity].substr(0, 12) << " (" << m.identity << ") has MTU "
                                   << m.ours << " on this host but " << m.theirs << " on host " << m.host
                                   << ": packets larger than " << std::min(m.ours, m.theirs)
                                   << " bytes between them are dropped (weftctl check)");
  }
  loggedMtuMismatches_ = std::move(now);
}

std::vector<Driver::NetworkMtuView> Driver::networkMtus() const {
  auto carriers = peers_.remoteVteps();  // its own lock: taken before mu_, never inside it
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<NetworkMtuView> out;
  for (const auto& [id, n] : networks_) {
    NetworkMtuView v{id, n.identity, n.mtu, mtus_.hostsOf(n.identity), {}};
    v.unknown = mtus_.unknown(n.identity, carriers[n.identity]);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace weft::driver
