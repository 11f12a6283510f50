#include "plugin/kernel_select.h"

#include "kernel/fake_kernel.h"
#include "kernel/netlink_kernel.h"

namespace weft::plugin {

Result<kernel::KernelPtr> makeKernel(bool fake, const std::string& netnsDir) {
  if (fake) return kernel::KernelPtr(std::make_unique<kernel::FakeKernel>(netnsDir));
  return kernel::KernelPtr(std::make_unique<kernel::NetlinkKernel>(netnsDir));
}

}  // namespace weft::plugin
