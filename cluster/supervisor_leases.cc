// The supervisor and cluster-wide IPAM leases: this host's leases go to the
// sidecar like endpoints (cluster/desired_set.h: desired state, coalesced per
// key, replayed to a new sidecar after its ready); other hosts' leases and
// member changes go to the sink.
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
  std::lock_guard<std::mutex> lk(mu_);
  leases_.set({c.pool, c.block}, toIpc(c));
  sendCv_.notify_one();
}

void Supervisor::withdrawLease(const std::string& pool, uint32_t block) {
  std::lock_guard<std::mutex> lk(mu_);
  if (leases_.erase({pool, block})) sendCv_.notify_one();
}

void Supervisor::takeLeaseSendsLocked(std::vector<ipc::ToSidecar>* batch, size_t room) {
  leases_.take(batch, room, [](const ipc::Lease& l, bool withdraw) {
    return ipc::ToSidecar{ipc::LeaseMsg{l, withdraw}};
  });
}

void Supervisor::handleLease(const ipc::LeaseEvent& m) {
  // Form was checked by the decoder; whether the lease may hold its block is
  // the driver's judgement (it knows the pools and the other claims).
  sink_.applyLease(toDriver(m.lease), m.active);
}

}  // namespace weft::cluster
