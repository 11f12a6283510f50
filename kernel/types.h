#pragma once
// Plain value types for kernel objects weft manages. No netlink here.

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "common/ip.h"
#include "common/mac.h"

namespace weft::kernel {

// A network namespace by weft's name for it. The empty string is the host
// namespace (the one weft-plugin itself runs in). Named namespaces are files
// under <state-dir>/netns/<name>, kept alive by a bind mount.
using Netns = std::string;
inline const Netns kHostNetns;

enum class LinkKind { kBridge, kVeth, kVxlan, kOther };
const char* linkKindName(LinkKind k);

struct VxlanSpec {
  std::string name;
  uint32_t vni = 0;
  uint16_t port = 4789;  // UDP destination port (host order here)
  std::string local;     // local VTEP IPv4/IPv6 address; may be empty
  bool learning = false;
  bool proxy = true;  // answer ARP/ND from the neighbour table
  bool l2miss = false;
  bool l3miss = false;
  uint32_t mtu = 0;  // 0: kernel default
  std::string mac;   // the device's own MAC (IFLA_ADDRESS); empty: the kernel's choice
};

struct LinkInfo {
  std::string name;
  LinkKind kind = LinkKind::kOther;
  std::string kindName;  // IFLA_INFO_KIND as the kernel reports it
  int ifindex = 0;
  uint32_t mtu = 0;
  bool up = false;
  std::string master;            // name of the master device, or empty
  uint32_t group = 0;            // link group (IFLA_GROUP)
  std::string mac;               // "aa:bb:cc:dd:ee:ff"
  std::optional<uint32_t> vni;   // vxlan only
  std::optional<uint16_t> port;  // vxlan only
  std::optional<bool> learning;  // vxlan only
  // vxlan only: the VTEP's source address (IFLA_VXLAN_LOCAL or _LOCAL6); its
  // family is the underlay's, and every FDB destination must share it.
  std::optional<IpAddr> local;
};

// A bridge forwarding entry on a VXLAN device: MAC -> remote VTEP
// (NTF_SELF, NUD_PERMANENT). All-zero MAC entries are flood entries; several
// may exist for one MAC with different destinations.
struct FdbEntry {
  std::string dev;
  MacAddr mac;
  // The remote VTEP. Listing always fills it in; delFdb without it deletes
  // every destination of the MAC; adding or replacing without it: EINVAL.
  std::optional<IpAddr> dst;
  bool operator==(const FdbEntry&) const = default;
  auto operator<=>(const FdbEntry&) const = default;
};

// How addFdb writes an entry: kCreate refuses a MAC that has one (EEXIST);
// kAppend adds one more destination to a flood (all-zero) or multicast MAC.
enum class FdbAdd { kCreate, kAppend };

// A permanent neighbour entry: IP -> MAC on a device. delNeigh matches the
// IP alone (the kernel keys neighbours by it).
struct NeighEntry {
  std::string dev;
  IpAddr ip;
  MacAddr mac;
  bool operator==(const NeighEntry&) const = default;
  auto operator<=>(const NeighEntry&) const = default;
};

struct Route {
  Prefix dst;  // a /0 is the default route of its family
  std::optional<IpAddr> gateway;
  std::string dev;  // may be empty when gateway is set
  bool operator==(const Route&) const = default;
  auto operator<=>(const Route&) const = default;
};

inline constexpr uint32_t kDefaultEsnReplayWindow = 128;
inline constexpr uint32_t kLegacyReplayWindow = 32;
inline constexpr uint32_t kMaxXfrmReplayWindow = 4096;

// One ICMP echo request sent from inside a namespace (see Kernel::echo).
struct EchoProbe {
  std::string dst;    // IPv4 address
  uint32_t size = 0;  // whole IP packet in bytes (20 IP + 8 ICMP + payload), sent with DF set
};

// What became of one probe.
struct EchoResult {
  bool ok = false;         // the matching echo reply came back in time
  int error = 0;           // errno when it could not even be sent (EMSGSIZE, ENETUNREACH, ...)
  uint32_t rttMicros = 0;  // round-trip time when ok
};

// ESP state between two VTEPs in one direction.
// An SA's counters as the kernel keeps them (struct xfrm_usersa_info's
// curlft and stats). They live and die with the SA: one removed (rotation,
// peer gone) takes its counts with it, and a new one starts at 0.
struct XfrmCounters {
  // curlft.packets / curlft.bytes: on an outbound SA what it sealed, on an
  // inbound one what it opened (authenticated and not a replay). Bytes: in
  // transport mode the ESP payload's cleartext (for weft the VXLAN
  // datagram), the same at both ends (tests/vm checks it).
  uint64_t packets = 0;
  uint64_t bytes = 0;
  // Inbound only, dropped before decryption by the anti-replay check:
  // stats.replay, a sequence number seen before inside the window, and
  // stats.replay_window, one behind the window (too old to tell).
  uint64_t duplicates = 0;
  uint64_t tooOld = 0;
  // Inbound only: stats.integrity_failed, the ICV did not verify (altered,
  // forged, or another key).
  uint64_t authFailed = 0;
  uint64_t replayDropped() const { return duplicates + tooOld; }
  bool operator==(const XfrmCounters&) const = default;
};

struct XfrmState {
  std::string src;
  std::string dst;
  uint32_t spi = 0;
  uint32_t reqid = 0;
  std::string aeadKeyHex;  // rfc4106(gcm(aes)) key material incl. 4-byte salt, hex
  uint32_t icvBits = 128;
  bool esn = true;
  // Anti-replay window in packets; 0 = the default (kDefaultEsnReplayWindow
  // with ESN, 32 without), which a listing also reports as 0. With ESN: a
  // multiple of 32 up to kMaxXfrmReplayWindow (the kernel's
  // XFRMA_REPLAY_ESN_MAX bitmap); without: up to 32 (a 32-bit bitmap).
  uint32_t replayWindow = 0;
  // What the kernel counted on the SA: set by a listing (listXfrmStates),
  // ignored when adding or deleting one.
  std::optional<XfrmCounters> counters;
  // The SA's identity and configuration: counters are not compared (a
  // listing of the SA that was asked for equals it, however much traffic
  // it has carried).
  bool operator==(const XfrmState& o) const;
};

enum class XfrmDir { kIn, kOut, kFwd };

// A policy that selects VXLAN traffic to/from a VTEP on one UDP port and
// requires ESP with reqid -- or, with block, discards what it selects. A
// selector address that is the unspecified address ("0.0.0.0", "::") means
// any address. Block policies have no template (tmpl*, reqid, spi empty)
// and rank below the ESP ones (XFRM priority kXfrmBlockPriority against
// kXfrmPolicyPriority): the catch-all that refuses cleartext on the
// encrypted networks' port from and to every host without its own policy,
// inside xfrm, without iptables match modules whose absence fails open.
inline constexpr uint32_t kXfrmPolicyPriority = 100;
inline constexpr uint32_t kXfrmBlockPriority = 1000;  // a larger value is a lower precedence
struct XfrmPolicy {
  XfrmDir dir = XfrmDir::kOut;
  std::string src;       // selector source host address
  std::string dst;       // selector destination host address
  uint16_t udpPort = 0;  // selector destination port (0 = any)
  std::string tmplSrc;
  std::string tmplDst;
  uint32_t reqid = 0;
  uint32_t spi = 0;  // 0 = any
  bool block = false;
  bool operator==(const XfrmPolicy&) const = default;
};

}  // namespace weft::kernel
