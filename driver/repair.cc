// Networks that could not be restored: each is reported with its reason,
// retried with backoff, and never keeps weft from serving the others.

#include <algorithm>
#include <chrono>

#include "common/log.h"
#include "driver/driver.h"

namespace weft::driver {

namespace {
// Retries of a faulted network: DriverConfig::repairRetry (2 s), doubling,
// at most every 60 s. A Docker call on the network tries at once, whatever
// the backoff.
constexpr std::chrono::seconds kMaxRetry{60};
}  // namespace

std::map<std::string, std::string> Driver::faults() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::map<std::string, std::string> out;
  for (const auto& [id, f] : faults_) out.emplace(id, f.reason);
  return out;
}

void Driver::markFaultyLocked(Network& n, const std::string& reason) {
  peers_.detach(n.identity);
  for (const auto& eid : n.endpoints) endpoints_.at(eid).joined = false;
  auto [it, added] = faults_.try_emplace(n.id);
  bool changed = added || it->second.reason != reason;
  it->second.reason = reason;
  using Duration = std::chrono::steady_clock::duration;
  it->second.delay = added ? Duration(cfg_.repairRetry) : std::min<Duration>(kMaxRetry, it->second.delay * 2);
  it->second.next = std::chrono::steady_clock::now() + it->second.delay;
  if (changed)  // one line per new reason, not per retry
    LOG_ERROR("driver", reason << "; weft serves its other networks and retries this one");
}

Status Driver::repairLocked(Network& n) {
  std::vector<std::string> did;
  if (auto st = reconcileNetworkLocked(n, &did); !st) {
    markFaultyLocked(n, st.error().message);
    return st;
  }
  faults_.erase(n.id);
  for (const auto& a : did) LOG_INFO("reconcile", a);
  LOG_INFO("driver", "network " << n.id.substr(0, 12) << " is usable again (vni " << n.vni << ")");
  // Remote endpoints' entries: programmed by the next syncPeers().
  peers_.attach(n.identity, {n.netns, n.vxlanName});
  if (cluster_)
    for (const auto& eid : n.endpoints)
      if (const Endpoint& e = endpoints_.at(eid); e.joined) cluster_->publish(localRecordLocked(e));
  return Status::Ok();
}

Status Driver::usableLocked(Network& n) {
  if (!faults_.count(n.id)) return Status::Ok();
  if (auto st = repairLocked(n); !st)
    return Error{st.code(), "network " + n.id.substr(0, 12) + " cannot be used on this host: " +
                                st.error().message + " (weft keeps trying; see `weftctl status`)"};
  return Status::Ok();
}

size_t Driver::repairDue() {
  std::lock_guard<std::mutex> lk(mu_);
  const auto now = std::chrono::steady_clock::now();
  size_t repaired = 0;
  std::vector<std::string> due;
  for (auto it = faults_.begin(); it != faults_.end();) {
    if (!networks_.count(it->first)) {  // deleted meanwhile
      it = faults_.erase(it);
      continue;
    }
    if (it->second.next <= now) due.push_back(it->first);
    ++it;
  }
  for (const auto& id : due)
    if (repairLocked(networks_.at(id))) ++repaired;
  return repaired;
}

size_t Driver::repairFaulted() {
  size_t repaired = repairDue();
  if (repaired) peers_.sync();
  return repaired;
}

}  // namespace weft::driver
