// The supervisor and cluster-wide IPAM leases: this host's leases go to the
// sidecar like endpoints (desired state, coalesced per key, replayed to a new
// sidecar after its ready); other hosts' leases and member changes go to the
// sink.
#include "cluster/supervisor.h"
#include "common/log.h"

namespace weft::cluster {

namespace {

ipc::Lease toIpc(const driver::LeaseClaim& c) {
  return {c.pool, c.block, "", c.claimedAt, c.used, c.released, c.takeoverOf};
}

driver::LeaseClaim toDriver(const ipc::Lease& l) {
  return {l.pool, l.block, l.owner, l.claimedAt, l.used, l.released, l.takeoverOf};
}

}  // namespace

void Supervisor::publishLease(const driver::LeaseClaim& c) {
  if (c.block >= ipc::kMaxLeaseBlocks) {  // the sidecar would refuse it: say so here
    LOG_ERROR("ipam", "not publishing lease of block " << c.block << " of " << c.pool << ": past "
                                                       << ipc::kMaxLeaseBlocks);
    return;
  }
  LeaseKey k{c.pool, c.block};
  std::lock_guard<std::mutex> lk(mu_);
  leases_[k] = toIpc(c);
  leaseDirty_.insert(k);
  sendCv_.notify_one();
}

void Supervisor::withdrawLease(const std::string& pool, uint32_t block) {
  LeaseKey k{pool, block};
  std::lock_guard<std::mutex> lk(mu_);
  leases_.erase(k);
  if (leasesTold_.count(k)) {
    leaseDirty_.insert(k);
    sendCv_.notify_one();
  } else {
    leaseDirty_.erase(k);
  }
}

void Supervisor::takeLeaseSendsLocked(std::vector<ipc::ToSidecar>* batch, size_t room) {
  while (!leaseDirty_.empty() && batch->size() < room) {
    LeaseKey k = *leaseDirty_.begin();
    leaseDirty_.erase(leaseDirty_.begin());
    auto want = leases_.find(k);
    auto told = leasesTold_.find(k);
    if (want != leases_.end()) {
      if (told != leasesTold_.end() && told->second == want->second) continue;
      leasesTold_[k] = want->second;
      batch->push_back(ipc::LeaseMsg{want->second, false});
    } else if (told != leasesTold_.end()) {
      ipc::Lease gone = told->second;
      leasesTold_.erase(told);
      batch->push_back(ipc::LeaseMsg{gone, true});
    }
  }
}

void Supervisor::handleLease(const ipc::LeaseEvent& m) {
  // Form was checked by the decoder; whether the lease may hold its block is
  // the driver's judgement (it knows the pools and the other claims).
  sink_.applyLease(toDriver(m.lease), m.active);
}

}  // namespace weft::cluster
