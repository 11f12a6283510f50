// The supervisor and multicast pruning (issue 14): this host's listeners per
// network go to the sidecar like names (desired state, coalesced per
// network, replayed to a new sidecar after its ready); other hosts' go to
// the multicast sink.
#include "cluster/supervisor.h"
#include "common/log.h"

namespace weft::cluster {

static_assert(ipc::kMaxMcastV4 == driver::kMaxMcastV4Groups && ipc::kMaxMcastV6 == driver::kMaxMcastV6Groups,
              "one limit on both sides of the channel");

void Supervisor::publishMcast(const driver::McastAdvert& a) {
  ipc::Mcast m{a.network, "", a.vtep, a.groups, a.all};
  if (auto why = ipc::mcastGroupsProblem(m); !why.empty()) {  // the sidecar would refuse it: say so here
    LOG_ERROR("mcast", "not advertising the multicast listeners of network " << a.network << ": " << why);
    return;
  }
  std::lock_guard<std::mutex> lk(mu_);
  mcast_.set(a.network, m);
  sendCv_.notify_one();
}

void Supervisor::withdrawMcast(const std::string& network) {
  std::lock_guard<std::mutex> lk(mu_);
  if (mcast_.erase(network)) sendCv_.notify_one();
}

void Supervisor::takeMcastSendsLocked(std::vector<ipc::ToSidecar>* batch, size_t room) {
  mcast_.take(batch, room, [](const ipc::Mcast& m, bool withdraw) {
    return ipc::ToSidecar{ipc::McastMsg{m, withdraw}};
  });
}

void Supervisor::handleMcast(const ipc::McastEvent& m) {
  // Form was checked by the decoder (and the sidecar checked the record's
  // key against its writer); what it means is the pruner's judgement.
  if (!mcastSink_) return;
  const auto& c = m.mcast;
  mcastSink_->applyMcast({c.network, c.owner, c.vtep, c.groups, c.all}, m.active);
}

}  // namespace weft::cluster
