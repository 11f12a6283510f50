#include "gossip/daemon/name_records.h"

#include "common/dns_name.h"
#include "common/ip.h"

namespace weft::gossip {

bool isNamesNetwork(const std::string& network) { return network.rfind(kNamesNetworkPrefix, 0) == 0; }

std::string namesNetwork(const std::string& network) { return kNamesNetworkPrefix + network; }

EndpointRecord namesToRecord(const cluster::ipc::Names& n) {
  EndpointRecord r;
  r.network = namesNetwork(n.network);
  r.endpoint = n.endpoint;
  r.ipv4 = n.ipv4;
  r.ipv6 = n.ipv6;
  for (const auto& name : n.names) r.vtep += (r.vtep.empty() ? "" : ",") + name;
  return r;
}

Result<cluster::ipc::Names> recordToNames(const EndpointRecord& r, const std::string& endpointOwner) {
  if (!isNamesNetwork(r.network)) return Error{EINVAL, "not a names record"};
  cluster::ipc::Names n;
  n.network = r.network.substr(std::string(kNamesNetworkPrefix).size());
  n.endpoint = r.endpoint;
  n.owner = r.owner;
  if (n.network.empty() || !cluster::ipc::validEndpointId(n.endpoint))
    return Error{EINVAL, "names record with a bad key \"" + r.network.substr(0, 64) + "/" +
                             r.endpoint.substr(0, 64) + "\""};
  if (!endpointOwner.empty() && endpointOwner != r.owner)
    return Error{EPERM, "names record for endpoint " + n.endpoint.substr(0, 12) + " written by " + r.owner +
                            ", which does not own it (" + endpointOwner + " does)"};
  auto v4 = IpAddr::parse(r.ipv4);
  auto v6 = IpAddr::parse(r.ipv6);
  if ((!r.ipv4.empty() && (!v4 || v4->isV6())) || (!r.ipv6.empty() && (!v6 || !v6->isV6())) ||
      (r.ipv4.empty() && r.ipv6.empty()))
    return Error{EINVAL, "names record for endpoint " + n.endpoint.substr(0, 12) + " with bad addresses"};
  n.ipv4 = r.ipv4;
  n.ipv6 = r.ipv6;
  if (r.vtep.size() > cluster::ipc::kMaxNamesBytes)
    return Error{EINVAL, "names record for endpoint " + n.endpoint.substr(0, 12) + " too long"};
  size_t start = 0;
  while (start <= r.vtep.size() && !r.vtep.empty()) {
    size_t comma = r.vtep.find(',', start);
    std::string name = r.vtep.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!validDnsName(name))
      return Error{EINVAL, "names record for endpoint " + n.endpoint.substr(0, 12) + " with a bad name \"" +
                               name.substr(0, 64) + "\""};
    n.names.push_back(std::move(name));
    if (n.names.size() > cluster::ipc::kMaxNamesPerSet)
      return Error{EINVAL, "names record for endpoint " + n.endpoint.substr(0, 12) + " with too many names"};
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return n;
}

}  // namespace weft::gossip
