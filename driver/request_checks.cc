// Checks of Docker's requests that need no driver state: object IDs,
// subnets, options weft does not build yet. Each refusal names the field.

#include <algorithm>
#include <cerrno>

#include "driver/driver.h"
#include "driver/driver_internal.h"

namespace weft::driver {

namespace detail {

Status refuseUnbuilt(const NetworkOptions& o) {
  if (o.encrypted)
    return Error{ENOTSUP,
                 "option encrypted: this weft does not encrypt the data plane yet; "
                 "create the network without -o encrypted"};
  return Status::Ok();
}

Result<Subnet> checkSubnet(const IpamData& d, int family) {
  const bool v6 = family == AF_INET6;
  auto p = Prefix::parse(d.pool);
  const char* fam = v6 ? "IPv6Data" : "IPv4Data";
  if (!p) return Error{EINVAL, std::string(fam) + " Pool \"" + d.pool + "\" is not a valid CIDR"};
  if (p->addr.isV6() != v6)
    return Error{EINVAL, std::string(fam) + " Pool \"" + d.pool + "\" is of the wrong address family"};
  if (!d.gateway.empty()) {
    auto g = Prefix::parse(d.gateway);
    if (!g || g->addr.isV6() != v6 || !p->contains(g->addr))
      return Error{EINVAL,
                   std::string(fam) + " Gateway \"" + d.gateway + "\" must be a CIDR inside Pool " + d.pool};
  }
  return Subnet{d.pool, d.gateway};
}

}  // namespace detail

bool validObjectId(const std::string& id) {
  if (id.size() < 12 || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  });
}

Status checkObjectId(const char* field, const std::string& id) {
  if (validObjectId(id)) return Status::Ok();
  return Error{EINVAL, std::string(field) + " \"" + id +
                           "\" is not a valid ID (12 to 128 letters and digits expected)"};
}

}  // namespace weft::driver
