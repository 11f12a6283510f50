#pragma once
#include <string>
#include <vector>

#include "common/result.h"
#include "kernel/kernel.h"

namespace weft::plugin {
// The real netlink shim, or the in-memory one for --fake-kernel.
// keepDir (NETNS_KEEP_DIR, real kernel only): a second home for namespace
// mounts; kept namespaces are adopted here, before anything else runs.
// Problems that do not stop weft but that an operator must hear of (a keep
// directory that is not on a shared mount) are added to *warnings.
Result<kernel::KernelPtr> makeKernel(bool fake, const std::string& netnsDir, const std::string& keepDir,
                                     std::vector<std::string>* warnings);
}  // namespace weft::plugin
