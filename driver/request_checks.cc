// Checks of Docker's requests that need no driver state: object IDs,
// subnets, what this host can serve of -o encrypted. Each refusal names the
// field.

#include <algorithm>
#include <cerrno>

#include "driver/driver.h"
#include "driver/driver_internal.h"

namespace weft::driver {

namespace detail {

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

void Driver::setEncryptedPlane(EncryptedPlane* plane, std::string why) {
  plane_ = plane;
  if (!why.empty()) planeOff_ = std::move(why);
}

Result<CryptoBackend> Driver::cryptoFor(const NetworkOptions& o) const {
  if (!o.encrypted) return CryptoBackend::kAuto;
  const std::string kernelOff = this->kernelOff();
  const CryptoBackend wanted = o.cryptoBackend();
  if (wanted == CryptoBackend::kKernel) {
    if (!kernelOff.empty())
      return Error{ENOTSUP, "option weft.crypto=kernel: this host cannot use the kernel backend: " +
                                kernelOff + "; use -o weft.crypto=auto or userspace"};
    return CryptoBackend::kKernel;
  }
  if (plane_) return wanted == CryptoBackend::kUserspace ? CryptoBackend::kUserspace : CryptoBackend::kAuto;
  // auto without the userspace datapath: only pairs of two kernel-capable
  // hosts could be served; weft does not half-serve a network by default.
  return Error{ENOTSUP, "option encrypted: this host cannot encrypt a network's traffic: " + planeOff_ +
                            "; create the network without -o encrypted, or fix that and try again"};
}

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
