// Networks that could not be restored: each is reported with its reason,
// retried with backoff, and never keeps weft from serving the others.

#include <algorithm>
#include <chrono>

#include "common/log.h"
#include "driver/driver.h"

namespace weft::driver {

std::map<std::string, std::string> Driver::faults() const {
  std::lock_guard<std::mutex> lk(mu_);
  return faults_.reasons();
}

void Driver::markFaultyLocked(Network& n, const std::string& reason) {
  peers_.detach(n.identity);
  for (const auto& eid : n.endpoints) endpoints_.at(eid).joined = false;
  // Retried after DriverConfig::repairRetry (2 s), doubling, at most every
  // 60 s; a Docker call on the network tries at once, whatever the backoff.
  if (faults_.fail(n.id, reason, FaultBook::Clock::now()))  // one line per new reason, not per retry
    LOG_ERROR("driver", reason << "; weft serves its other networks and retries this one");
}

Status Driver::repairLocked(Network& n) {
  std::vector<std::string> did;
  if (auto st = reconcileNetworkLocked(n, &did); !st) {
    markFaultyLocked(n, st.error().message);
    return st;
  }
  faults_.clear(n.id);
  for (const auto& a : did) LOG_INFO("reconcile", a);
  LOG_INFO("driver", "network " << n.id.substr(0, 12) << " is usable again (vni " << n.vni << ")");
  // Remote endpoints' entries: programmed by the next syncPeers().
  if (!n.encrypted()) peers_.attach(n.identity, {n.netns, n.vxlanName});
  if (cluster_)
    for (const auto& eid : n.endpoints)
      if (const Endpoint& e = endpoints_.at(eid); e.joined) cluster_->publish(localRecordLocked(e));
  return Status::Ok();
}

Status Driver::usableLocked(Network& n) {
  if (!faults_.faulted(n.id)) return Status::Ok();
  if (auto st = repairLocked(n); !st)
    return Error{st.code(), "network " + n.id.substr(0, 12) + " cannot be used on this host: " +
                                st.error().message + " (weft keeps trying; see `weftctl status`)"};
  return Status::Ok();
}

size_t Driver::repairDue() {
  std::lock_guard<std::mutex> lk(mu_);
  faults_.retain([&](const std::string& id) { return networks_.count(id) > 0; });  // deleted meanwhile
  size_t repaired = 0;
  for (const auto& id : faults_.due(FaultBook::Clock::now()))
    if (repairLocked(networks_.at(id))) ++repaired;
  return repaired;
}

size_t Driver::repairFaulted() {
  size_t repaired = repairDue();
  if (repaired) peers_.sync();
  return repaired;
}

}  // namespace weft::driver
