#pragma once
// The kernel endpoints of weft's userspace encrypted datapath: a multi-queue
// TAP device (the network's port on br0 in place of the VXLAN VTEP) and the
// datapath's UDP socket, each opened inside a given network namespace from a
// short-lived thread (setns is per thread; the descriptors keep their
// namespace wherever they are used).
//
// The TAP is persistent: it outlives the descriptors, so container traffic
// has an interface to stand on across a datapath restart, and a restart
// attaches to it again instead of making a new one. It is deleted like any
// link (Kernel::deleteLink) or with its namespace.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "kernel/fd.h"

namespace weft::kernel {

// Every frame read from or written to a queue starts with a struct
// virtio_net_hdr (IFF_VNET_HDR). Checksum and TCP segmentation offloads are
// on (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6): the kernel hands over TCP
// super-frames of up to 64 KB and frames with partial checksums, which the
// reader must segment and complete (datapath/gso.h).
inline constexpr size_t kTapVnetHdrSize = 10;
inline constexpr uint32_t kMaxTapQueues = 16;

struct TapSpec {
  std::string name;     // 1..15 bytes
  uint32_t queues = 1;  // 1..kMaxTapQueues
};

// Creates the TAP in the namespace of `netnsPath` (empty: the caller's own),
// or attaches to the one there of that name, and opens `queues` queues
// (non-blocking, close-on-exec). EINVAL for a bad spec; the kernel's errno
// otherwise (e.g. EINVAL/EBUSY when a device of that name is no such TAP).
Result<std::vector<Fd>> openTapQueues(const std::string& netnsPath, const TapSpec& spec);

// A non-blocking UDP socket bound to addr:port (IPv4 or IPv6) inside the
// namespace of `netnsPath` (empty: the caller's own), with large buffers for
// batched I/O.
Result<Fd> openDatapathSocket(const std::string& netnsPath, const std::string& addr, uint16_t port);

}  // namespace weft::kernel
