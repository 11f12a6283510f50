// The supervisor and endpoint names (issue 12): this host's endpoints' names
// go to the sidecar like leases (cluster/desired_set.h); other hosts' names go to the name sink.
#include "cluster/supervisor.h"
#include "common/log.h"

namespace weft::cluster {

void Supervisor::publishNames(const driver::EndpointNames& n) {
  if (!ipc::namesFit(n.names)) {  // the sidecar would refuse it: say so here
    LOG_ERROR("names", "not publishing the names of endpoint " << n.endpoint.substr(0, 12) << ": past "
                                                               << ipc::kMaxNamesPerSet << " names or "
                                                               << ipc::kMaxNamesBytes << " bytes");
    return;
  }
  std::lock_guard<std::mutex> lk(mu_);
  names_.set({n.network, n.endpoint}, ipc::Names{n.network, n.endpoint, "", n.ipv4, n.ipv6, n.names});
  sendCv_.notify_one();
}

void Supervisor::withdrawNames(const std::string& network, const std::string& endpoint) {
  std::lock_guard<std::mutex> lk(mu_);
  if (names_.erase({network, endpoint})) sendCv_.notify_one();
}

void Supervisor::takeNamesSendsLocked(std::vector<ipc::ToSidecar>* batch, size_t room) {
  names_.take(batch, room, [](const ipc::Names& n, bool withdraw) {
    return ipc::ToSidecar{ipc::NamesMsg{n, withdraw}};
  });
}

void Supervisor::handleNames(const ipc::NamesEvent& m) {
  // Form was checked by the decoder; whether the writer owns the endpoint is
  // the name table's judgement (it holds the endpoint records).
  if (!nameSink_) return;
  const auto& n = m.names;
  nameSink_->applyNames({n.network, n.endpoint, n.owner, n.ipv4, n.ipv6, n.names}, m.active);
}

}  // namespace weft::cluster
