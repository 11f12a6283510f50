#pragma once
// Which backend carries an encrypted network's traffic to each peer host
// (issue 11, "Selection"), and how hosts tell each other what they can.
//
// Capability records: every host publishes one record in the control-plane
// network "crypto:hosts" (an owner-written endpoint record, nothing new for
// the sidecar, like the pool-name records of driver/ipam_pool_names.h):
// endpoint "caps.<owner>" (':' of an IPv6 owner as '-'), the owner in
// `vtep`, and the capabilities as bits of the last byte of a fixed,
// locally administered MAC 02:00:00:00:00:XX (bit 0: kernel ESP). Older
// builds never publish in that network, so their sidecars do not carry it
// and their plugins never see it; a host that has no record of a peer
// treats it as a host without kernel ESP (auto: userspace). The network
// holds other kinds of record too (endpoint "esp.<owner>": the kernel
// backend's key epoch, driver/esp_epochs.h); apply leaves those alone.
//
// Selection is pure and symmetric: both ends of a pair compute the same
// answer from the same two capabilities and the network's -o weft.crypto
// (which swarm gives every host alike; standalone hosts must create the
// network with the same option). Cleartext is never one of the answers: a
// pair that cannot be served is kRefused, carried by neither backend.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/result.h"
#include "driver/cluster.h"
#include "driver/network_options.h"
#include "driver/peer_table.h"

namespace weft::driver {

inline constexpr const char* kCryptoCapsNetwork = "crypto:hosts";
inline constexpr uint8_t kCapKernelEsp = 0x01;
// A bound on what other hosts can make this one keep.
inline constexpr size_t kMaxCryptoCapsHosts = 4096;

struct HostCrypto {
  bool kernelEsp = false;
  bool operator==(const HostCrypto&) const = default;
};

class CryptoCaps {
 public:
  static bool isRecordNetwork(const std::string& network) { return network == kCryptoCapsNetwork; }
  // The record this host (`self`: its underlay address) publishes.
  static EndpointRecord record(const HostCrypto& caps, const std::string& self);

  // Another host's record arrived (active) or went away. Refused, changing
  // nothing, when it is not well formed; this host's own is ignored.
  Status apply(const EndpointRecord& r, bool active, const std::string& self);
  // What a peer (its underlay address) advertised; nullopt: nothing (an
  // older build, or its record has not arrived yet).
  std::optional<HostCrypto> of(const std::string& host) const;
  size_t size() const { return byHost_.size(); }

 private:
  std::map<std::string, HostCrypto> byHost_;
};

enum class PairBackend { kKernel, kUserspace, kRefused };
const char* pairBackendName(PairBackend b);

struct PairSelection {
  PairBackend backend = PairBackend::kRefused;
  std::string why;
  bool operator==(const PairSelection&) const = default;
};

// What this host can do: kernelOff empty when its kernel backend runs
// (else why not); userspaceOff empty when its userspace datapath runs.
struct LocalCrypto {
  std::string kernelOff;
  std::string userspaceOff;
};

// The backend for the pair (this host, peer) of a network created with
// `wanted`. auto: kernel when both hosts can, else userspace; kernel or
// userspace forced: that one, or kRefused with the reason.
PairSelection selectPairBackend(CryptoBackend wanted, const LocalCrypto& self, const std::string& peer,
                                const std::optional<HostCrypto>& peerCaps);

// A network's entries split by the backend of each entry's VTEP: entries of
// refused peers are in neither part (nothing is sent to them, cleartext or
// not). Neighbour entries follow their MAC's VTEP.
struct SplitEntries {
  PeerEntries kernel, userspace;
};
SplitEntries splitEntries(const PeerEntries& all, const std::map<std::string, PairBackend>& byVtep);

}  // namespace weft::driver
