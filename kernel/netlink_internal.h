#pragma once
// Private to kernel/: shared by the NetlinkKernel implementation files.

#include <string>

#include "common/result.h"
#include "kernel/nl_socket.h"
#include "kernel/types.h"

namespace weft::kernel::nl {

// Rewrites one kernel errno into the shim's contract (see netlink_kernel.h).
inline Status translate(Status s, int from, int to) {
  if (s.ok() || s.code() != from) return s;
  Error e = s.error();
  e.code = to;
  e.message += " [" + std::string(strerrorname_np(from) ? strerrorname_np(from) : "?") + "]";
  return e;
}

}  // namespace weft::kernel::nl
