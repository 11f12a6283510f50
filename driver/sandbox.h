#pragma once
// A weft network's sandbox in the kernel: its own namespace holding br0 (with
// the gateway addresses) and the VXLAN VTEP enslaved to it; and the veth that
// plugs an endpoint into br0. Every function is all-or-nothing: on failure it
// removes what it made.

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "kernel/kernel.h"

namespace weft::driver {

struct SandboxSpec {
  std::string netns;
  std::string vxlanName;
  uint32_t vni = 0;
  uint16_t port = 4789;
  std::string local;  // VTEP address, may be empty
  uint32_t mtu = 1450;
  std::vector<std::string> gateways;  // CIDRs for br0
  // False for an encrypted network: no VXLAN device at all, so cleartext
  // VXLAN for its VNI finds nothing to deliver to (the kernel drops it).
  bool vtep = true;
};

Status buildSandbox(kernel::Kernel& k, const SandboxSpec& s);
// Removes the VTEP first (so its VNI is free at once), then the namespace.
// Missing pieces are fine.
Status removeSandbox(kernel::Kernel& k, const SandboxSpec& s);
// One thing a reconcile put back, for the log and the metrics: the kernel
// table it concerns (netns, link, addr, fdb, neigh, flood), what it did
// (added, removed, replaced, up, mtu) and the same in words.
struct Correction {
  std::string table, action, what;
};

// Adopts what matches the spec, repairs what drifted, builds what is missing.
// Each action taken is appended to `did` in words, and to `fixes` (when
// given) with its table and action.
Status reconcileSandbox(kernel::Kernel& k, const SandboxSpec& s, std::vector<std::string>* did,
                        std::vector<Correction>* fixes = nullptr);

Status plugEndpoint(kernel::Kernel& k, const std::string& netns, const std::string& hostVeth,
                    const std::string& sandboxVeth, uint32_t mtu);
// Link group of veths taken out of service but not yet deleted.
inline constexpr uint32_t kRetiredLinkGroup = 0x77656674;  // "weft"

// Takes the endpoint's veth out of service at once (down, off br0, renamed to
// `retiredName`, in kRetiredLinkGroup); reapRetired() deletes retired veths
// in one batch, off the request path. A missing veth is fine.
Status unplugEndpoint(kernel::Kernel& k, const std::string& netns, const std::string& sandboxVeth,
                      const std::string& retiredName);
// Deletes the retired veths of a namespace (the container ends go with them).
Status reapRetired(kernel::Kernel& k, const std::string& netns);

}  // namespace weft::driver
