#pragma once
// Names of the kernel objects weft makes. They never collide with Docker's
// own overlay (`ov-*`, `vx-*`, namespaces `1-*`/`x-*`, VNIs >= 4096).

#include <cstdint>
#include <cstdio>
#include <string>

namespace weft::driver {

inline constexpr const char* kNetnsPrefix = "weft-";     // sandbox namespaces
inline constexpr const char* kVxlanPrefix = "wx-";       // VTEPs
inline constexpr const char* kHostVethPrefix = "wh";     // host end, returned to Docker
inline constexpr const char* kSandboxVethPrefix = "ws";  // on br0 in the sandbox
inline constexpr const char* kBridgeName = "br0";

inline std::string netnsName(const std::string& networkId) { return kNetnsPrefix + networkId.substr(0, 12); }
inline std::string vxlanName(uint32_t vni) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "wx-%06x", vni & 0xffffffu);
  return buf;
}
inline std::string hostVethName(const std::string& endpointId) {
  return kHostVethPrefix + endpointId.substr(0, 11);
}
inline std::string sandboxVethName(const std::string& endpointId) {
  return kSandboxVethPrefix + endpointId.substr(0, 11);
}

}  // namespace weft::driver
