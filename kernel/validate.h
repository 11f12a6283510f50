#pragma once
// Argument checks shared by NetlinkKernel and FakeKernel: every EINVAL the
// shim returns for malformed input is decided here, before anything touches
// a kernel (real or fake), so both implementations agree by construction.
// The parsed/canonical forms are what both implementations store and list.

#include <chrono>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "kernel/kernel.h"
#include "kernel/types.h"

namespace weft::kernel {

inline constexpr uint32_t kMinMtu = 68;        // ETH_MIN_MTU
inline constexpr uint32_t kMaxMtu = 65535;     // ETH_MAX_MTU
inline constexpr uint32_t kMinEchoSize6 = 48;  // IPv6 and ICMPv6 headers, no payload (IPv4: kMinEchoSize)
inline constexpr uint32_t kVxlanHeadroom4 = 50;
inline constexpr uint32_t kVxlanHeadroom6 = 70;
inline constexpr uint32_t kMaxVni = (1u << 24) - 1;

Error invalid(const std::string& what);  // Error{EINVAL, what}

// Link names: 1..15 bytes, not "."/"..", no '/', ':' or whitespace
// (the kernel's dev_valid_name()).
Status checkLinkName(const std::string& op, const std::string& name);
// Namespace names: 1..255 of [A-Za-z0-9_.-], not starting with '.'. The host
// namespace ("") cannot be created or deleted: EINVAL.
Status checkNetnsName(const std::string& op, const Netns& name);
// mtu 0 means "kernel default" where allowZero.
Status checkMtu(const std::string& op, uint32_t mtu, bool allowZero, uint32_t max = kMaxMtu);
// Also: a MAC, when given, must be a unicast address.
Status checkVxlanSpec(const VxlanSpec& spec);
// Echo probes (Kernel::echo): count, sizes, IPv4 destinations and timeout
// within the limits of kernel/kernel.h. Returns the parsed destinations.
Result<std::vector<IpAddr>> checkEchoProbes(const std::vector<EchoProbe>& probes,
                                            std::chrono::milliseconds timeout);

// Address of an interface: "10.0.0.1/24" (host bits allowed).
Result<Prefix> parseIfAddr(const std::string& op, const std::string& cidr);

// Host bits in dst are EINVAL; so is a route with neither gateway nor dev, or
// one whose gateway and destination differ in family.
Status checkRoute(const std::string& op, const Route& r);
std::string routeName(const Route& r);  // "10.0.0.0/8", "default", "default (IPv6)"

// What an FDB entry is checked for.
enum class FdbUse { kCreate, kAppend, kReplace, kDelete };
// Appending is only meaningful for the all-zero or a multicast MAC (the
// kernel silently ignores NLM_F_APPEND for an existing unicast entry):
// EINVAL. A missing destination is EINVAL unless deleting.
Status checkFdb(const std::string& op, const FdbEntry& e, FdbUse use);
bool isFloodMac(const MacAddr& m);  // all-zero or multicast

Status checkNeigh(const std::string& op, const NeighEntry& e);

// Keys are "net/..." paths below /proc/sys: [A-Za-z0-9_.-] segments joined by
// '/', no "." or ".." segments. Only net/ keys (the netns-scoped ones).
Status checkSysctlKey(const std::string& op, const std::string& key);

struct ParsedXfrmState {
  IpAddr src, dst;
  std::string keyHex;  // lower case
};
// Key: 20, 28 or 36 bytes (AES-128/192/256 + 4-byte salt); icv 64/96/128;
// spi != 0; src/dst one family.
// What an xfrm state or policy is checked for: deleting needs only what
// selects it (addresses, spi, direction), not the key or the template.
enum class XfrmUse { kAdd, kDelete };
Result<ParsedXfrmState> parseXfrmState(const std::string& op, const XfrmState& s, XfrmUse use);
struct ParsedXfrmPolicy {
  IpAddr src, dst;
  std::optional<IpAddr> tmplSrc, tmplDst;  // empty: any
};
Result<ParsedXfrmPolicy> parseXfrmPolicy(const std::string& op, const XfrmPolicy& p, XfrmUse use);

std::string toLowerHex(const std::string& s);

}  // namespace weft::kernel
