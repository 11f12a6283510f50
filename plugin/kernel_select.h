#pragma once
#include <string>

#include "common/result.h"
#include "kernel/kernel.h"

namespace weft::plugin {
// The real netlink shim, or the in-memory one for --fake-kernel.
// keepDir (NETNS_KEEP_DIR, real kernel only): a second home for namespace
// mounts; kept namespaces are adopted here, before anything else runs.
Result<kernel::KernelPtr> makeKernel(bool fake, const std::string& netnsDir, const std::string& keepDir);
}  // namespace weft::plugin
