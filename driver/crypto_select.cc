#include "driver/crypto_select.h"

#include <cstdio>

#include "driver/host_record_key.h"

namespace weft::driver {

namespace {

constexpr const char* kCapsMacPrefix = "02:00:00:00:00:";
constexpr const char* kCapsRecordPrefix = "caps.";

// The capability byte of a record's MAC; nullopt when the MAC is not
// 02:00:00:00:00:XX with two hex digits.
std::optional<uint8_t> capsByte(const std::string& mac) {
  const std::string prefix = kCapsMacPrefix;
  if (mac.size() != prefix.size() + 2 || mac.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  unsigned v = 0;
  for (char c : mac.substr(prefix.size())) {
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    v = v * 16 + static_cast<unsigned>(d);
  }
  return static_cast<uint8_t>(v);
}

}  // namespace

EndpointRecord CryptoCaps::record(const HostCrypto& caps, const std::string& self) {
  char mac[18];
  std::snprintf(mac, sizeof mac, "%s%02x", kCapsMacPrefix, caps.kernelEsp ? kCapKernelEsp : 0);
  return EndpointRecord{kCryptoCapsNetwork, hostRecordKey(kCapsRecordPrefix, self), "", "", mac, self};
}

Status CryptoCaps::apply(const EndpointRecord& r, bool active, const std::string& self) {
  if (!isRecordNetwork(r.network))
    return Error{EINVAL,
                 "crypto capability record of network \"" + r.network + "\": not " + kCryptoCapsNetwork};
  // Other kinds of record share the network (esp.<owner>, the kernel
  // backend's key epoch: driver/esp_epochs.h; a newer build's kinds): not
  // this parser's, and nothing to refuse.
  if (r.endpoint.rfind(kCapsRecordPrefix, 0) != 0) return Status::Ok();
  if (!ownerNamedByKey(r, kCapsRecordPrefix))
    return Error{EINVAL, "crypto capability record " + r.endpoint + " with owner \"" + r.vtep +
                             "\" that its key does not name"};
  if (r.vtep == self) return Status::Ok();
  if (!active) {
    byHost_.erase(r.vtep);
    return Status::Ok();
  }
  auto bits = capsByte(r.mac);
  if (!bits)
    return Error{EINVAL, "crypto capability record of " + r.vtep + ": \"" + r.mac + "\" is not " +
                             kCapsMacPrefix + "XX"};
  if (!byHost_.count(r.vtep) && byHost_.size() >= kMaxCryptoCapsHosts)
    return Error{ENOSPC, "crypto capability record of " + r.vtep + ": already " +
                             std::to_string(byHost_.size()) + " hosts known"};
  // Bits this build does not know are a newer host's; they change nothing here.
  byHost_[r.vtep] = HostCrypto{(*bits & kCapKernelEsp) != 0};
  return Status::Ok();
}

std::optional<HostCrypto> CryptoCaps::of(const std::string& host) const {
  auto it = byHost_.find(host);
  if (it == byHost_.end()) return std::nullopt;
  return it->second;
}

const char* pairBackendName(PairBackend b) {
  switch (b) {
    case PairBackend::kKernel:
      return "kernel";
    case PairBackend::kUserspace:
      return "userspace";
    case PairBackend::kRefused:
      return "none";
  }
  return "?";
}

PairSelection selectPairBackend(CryptoBackend wanted, const LocalCrypto& self, const std::string& peer,
                                const std::optional<HostCrypto>& peerCaps) {
  const bool peerKernel = peerCaps && peerCaps->kernelEsp;
  const std::string peerWhyNot =
      peerCaps ? "peer " + peer + " advertises no kernel ESP"
               : "peer " + peer + " has advertised no crypto capabilities (an older weft, or not heard yet)";
  auto userspace = [&](std::string why) {
    if (!self.userspaceOff.empty())
      return PairSelection{PairBackend::kRefused,
                           why + ", and this host's userspace datapath is off: " + self.userspaceOff};
    return PairSelection{PairBackend::kUserspace, std::move(why)};
  };
  switch (wanted) {
    case CryptoBackend::kUserspace:
      return userspace("forced by -o weft.crypto=userspace");
    case CryptoBackend::kKernel:
      if (!self.kernelOff.empty())
        return {PairBackend::kRefused, "-o weft.crypto=kernel, but this host cannot: " + self.kernelOff};
      if (!peerKernel) return {PairBackend::kRefused, "-o weft.crypto=kernel, but " + peerWhyNot};
      return {PairBackend::kKernel, "forced by -o weft.crypto=kernel"};
    case CryptoBackend::kAuto:
      break;
  }
  // The reason itself is this host's, shown once beside the table
  // (weftctl crypto) rather than in every pair's row.
  if (!self.kernelOff.empty()) return userspace("auto: this host cannot run the kernel backend");
  if (!peerKernel) return userspace("auto: " + peerWhyNot);
  return {PairBackend::kKernel, "auto: both hosts have kernel ESP"};
}

SplitEntries splitEntries(const PeerEntries& all, const std::map<std::string, PairBackend>& byVtep) {
  auto backendOf = [&](const std::string& vtep) {
    auto it = byVtep.find(vtep);
    return it == byVtep.end() ? PairBackend::kRefused : it->second;
  };
  auto part = [](SplitEntries& s, PairBackend b) -> PeerEntries* {
    return b == PairBackend::kKernel ? &s.kernel : b == PairBackend::kUserspace ? &s.userspace : nullptr;
  };
  SplitEntries out;
  for (const auto& vtep : all.flood)
    if (auto* p = part(out, backendOf(vtep))) p->flood.insert(vtep);
  for (const auto& [mac, vtep] : all.fdb)
    if (auto* p = part(out, backendOf(vtep))) p->fdb.emplace(mac, vtep);
  for (const auto& [ip, mac] : all.neigh) {
    auto f = all.fdb.find(mac);
    if (f == all.fdb.end()) continue;
    if (auto* p = part(out, backendOf(f->second))) p->neigh.emplace(ip, mac);
  }
  return out;
}

}  // namespace weft::driver
