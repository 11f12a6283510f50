#pragma once
// A lease claim of cluster-wide IPAM, the value the driver's rules
// (driver/ipam_blocks.h) judge and the cluster carries (driver/cluster.h).
// Header-only: cluster/ depends on the driver only through headers.

#include <cstdint>
#include <string>

namespace weft::driver {

// One host's lease of one block, as it travels between hosts. `claimedAt` is
// the owner's wall clock (µs) when it first claimed the block and is kept
// across its restarts: it orders concurrent claims.
struct LeaseClaim {
  std::string pool;  // the pool's cluster identity (its CIDR)
  uint32_t block = 0;
  std::string owner;
  uint64_t claimedAt = 0;
  bool used = false;      // the owner has handed out an address from it
  bool released = false;  // the owner gave the block back
  // Set when the block was reclaimed from an owner gone longer than the
  // grace period: "<owner>@<claimedAt>" of the claim it replaces.
  std::string takeoverOf;

  std::string id() const { return owner + "@" + std::to_string(claimedAt); }
  bool operator==(const LeaseClaim&) const = default;
};

}  // namespace weft::driver
