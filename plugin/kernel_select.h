#pragma once
#include <string>

#include "common/result.h"
#include "kernel/kernel.h"

namespace weft::plugin {
// The real netlink shim, or the in-memory one for --fake-kernel.
Result<kernel::KernelPtr> makeKernel(bool fake, const std::string& netnsDir);
}  // namespace weft::plugin
