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
};

Status buildSandbox(kernel::Kernel& k, const SandboxSpec& s);
// Removes the VTEP first (so its VNI is free at once), then the namespace.
// Missing pieces are fine.
Status removeSandbox(kernel::Kernel& k, const SandboxSpec& s);
// Adopts what matches the spec, repairs what drifted, builds what is missing.
// Each action taken is appended to `did` in words.
Status reconcileSandbox(kernel::Kernel& k, const SandboxSpec& s, std::vector<std::string>* did);

Status plugEndpoint(kernel::Kernel& k, const std::string& netns, const std::string& hostVeth,
                    const std::string& sandboxVeth, uint32_t mtu);
// Deleting the sandbox end removes the pair; a missing veth is fine.
Status unplugEndpoint(kernel::Kernel& k, const std::string& netns, const std::string& sandboxVeth);

}  // namespace weft::driver
