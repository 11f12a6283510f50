// The supervisor and endpoint names (issue 12): this host's endpoints' names
// go to the sidecar like leases (desired state, coalesced per key, replayed
// to a new sidecar after its ready); other hosts' names go to the name sink.
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
  Key k{n.network, n.endpoint};
  std::lock_guard<std::mutex> lk(mu_);
  names_[k] = ipc::Names{n.network, n.endpoint, "", n.ipv4, n.ipv6, n.names};
  namesDirty_.insert(k);
  sendCv_.notify_one();
}

void Supervisor::withdrawNames(const std::string& network, const std::string& endpoint) {
  Key k{network, endpoint};
  std::lock_guard<std::mutex> lk(mu_);
  names_.erase(k);
  if (namesTold_.count(k)) {
    namesDirty_.insert(k);
    sendCv_.notify_one();
  } else {
    namesDirty_.erase(k);
  }
}

void Supervisor::takeNamesSendsLocked(std::vector<ipc::ToSidecar>* batch, size_t room) {
  while (!namesDirty_.empty() && batch->size() < room) {
    Key k = *namesDirty_.begin();
    namesDirty_.erase(namesDirty_.begin());
    auto want = names_.find(k);
    auto told = namesTold_.find(k);
    if (want != names_.end()) {
      if (told != namesTold_.end() && told->second == want->second) continue;
      namesTold_[k] = want->second;
      batch->push_back(ipc::NamesMsg{want->second, false});
    } else if (told != namesTold_.end()) {
      ipc::Names gone = told->second;
      namesTold_.erase(told);
      batch->push_back(ipc::NamesMsg{gone, true});
    }
  }
}

void Supervisor::handleNames(const ipc::NamesEvent& m) {
  // Form was checked by the decoder; whether the writer owns the endpoint is
  // the name table's judgement (it holds the endpoint records).
  if (!nameSink_) return;
  const auto& n = m.names;
  nameSink_->applyNames({n.network, n.endpoint, n.owner, n.ipv4, n.ipv6, n.names}, m.active);
}

}  // namespace weft::cluster
