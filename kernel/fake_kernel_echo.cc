// FakeKernel: echo probes (the one kind of traffic the fake models), so the
// data-plane prober can be tested without root. See fake_kernel.h for the
// rules; kernel/kernel.h for the contract.
#include "kernel/fake_kernel.h"
#include "kernel/fake_kernel_util.h"
#include "kernel/validate.h"

namespace weft::kernel {

namespace {
constexpr uint32_t kLocalRttMicros = 20;
constexpr uint32_t kRemoteRttMicros = 300;
}  // namespace

void FakeKernel::setRemoteVtep(const std::string& vtep, uint32_t maxUnderlayPacket) {
  std::lock_guard<std::mutex> lock(mu_);
  auto ip = IpAddr::parse(vtep);
  if (!ip) return;
  if (maxUnderlayPacket == 0)
    remoteVteps_.erase(*ip);
  else
    remoteVteps_[*ip] = maxUnderlayPacket;
}

uint64_t FakeKernel::echoesSent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return echoesSent_;
}

Result<std::vector<EchoResult>> FakeKernel::echo(const Netns& ns, const std::vector<EchoProbe>& probes,
                                                 std::chrono::milliseconds timeout) {
  FAKE_ENTER("echo");
  auto dsts = checkEchoProbes(probes, timeout);
  if (!dsts) return dsts.error();
  auto n = nsLocked("echo", ns);
  if (!n) return n.error();
  Namespace& space = **n;
  std::vector<EchoResult> out(probes.size());
  for (size_t i = 0; i < probes.size(); ++i) {
    const IpAddr& dst = (*dsts)[i];
    EchoResult& r = out[i];
    ++echoesSent_;
    // An address of the namespace itself: through lo.
    bool own = false;
    for (auto& [name, l] : space.links)
      for (const Prefix& c : l.addrs)
        if (c.addr == dst) own = true;
    if (own) {
      r.ok = space.links.at("lo").info.up;
      if (r.ok) r.rttMicros = kLocalRttMicros;
      continue;
    }
    // The outgoing device: a connected prefix, else the longest route.
    std::optional<std::string> dev = connectedDevLocked(space, dst, "");
    if (!dev) {
      int best = -1;
      for (const StoredRoute& rt : space.routes)
        if (rt.dst.contains(dst) && rt.dst.len > best && space.links.count(rt.dev) &&
            space.links.at(rt.dev).info.up) {
          best = rt.dst.len;
          dev = rt.dev;
        }
    }
    if (!dev) {
      r.error = ENETUNREACH;
      continue;
    }
    const Link& l = space.links.at(*dev);
    if (probes[i].size > l.info.mtu) {
      r.error = EMSGSIZE;
      continue;
    }
    if (l.info.kind != LinkKind::kVxlan) continue;  // lost: no other host behind it
    auto nb = space.neigh.find({*dev, dst});
    if (nb == space.neigh.end()) continue;
    const MacAddr mac = nb->second.mac;
    std::optional<IpAddr> vtep;
    for (const FdbEntry& e : space.fdb)
      if (e.dev == *dev && e.mac == mac) vtep = e.dst;
    if (!vtep) continue;
    auto remote = remoteVteps_.find(*vtep);
    if (remote == remoteVteps_.end() ||
        probes[i].size + (vtep->isV6() ? kVxlanHeadroom6 : kVxlanHeadroom4) > remote->second)
      continue;
    r.ok = true;
    r.rttMicros = kRemoteRttMicros;
  }
  return out;
}

}  // namespace weft::kernel
