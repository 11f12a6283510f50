#include "plugin/kernel_select.h"

#include <filesystem>
#include <stdexcept>

#include "common/log.h"
#include "kernel/fake_kernel.h"
#include "kernel/netlink_kernel.h"

namespace weft::plugin {

Result<kernel::KernelPtr> makeKernel(bool fake, const std::string& netnsDir, const std::string& keepDir,
                                     std::vector<std::string>* warnings) {
  if (!keepDir.empty()) {
    std::error_code ea, eb;  // an unresolvable path is compared as given
    auto a = std::filesystem::weakly_canonical(keepDir, ea),
         b = std::filesystem::weakly_canonical(netnsDir, eb);
    if (ea) a = std::filesystem::path(keepDir).lexically_normal();
    if (eb) b = std::filesystem::path(netnsDir).lexically_normal();
    if (a == b || a.string().rfind(b.string() + "/", 0) == 0)
      return Error{EINVAL, "NETNS_KEEP_DIR (" + keepDir + ") must be outside " + netnsDir +
                               ": the point is a second mount that survives when that one is unmounted"};
  }
  if (fake) return kernel::KernelPtr(std::make_unique<kernel::FakeKernel>(netnsDir));
  std::unique_ptr<kernel::NetlinkKernel> k;
  try {
    k = std::make_unique<kernel::NetlinkKernel>(netnsDir, keepDir);
  } catch (const std::exception& e) {
    return Error{EIO, e.what()};
  }
  if (keepDir.empty()) return kernel::KernelPtr(std::move(k));
  auto shared = kernel::onSharedMount(keepDir);
  if (!shared.ok() || !*shared) {
    std::string w = "NETNS_KEEP_DIR " + keepDir +
                    " is not on a shared mount: its namespace mounts stay in weft's own mount namespace, "
                    "so `docker plugin disable` and `upgrade` will still cut running containers' traffic "
                    "(the managed plugin needs the host's /run to be a shared mount, as systemd makes it: "
                    "`mount --make-rshared /run`)";
    LOG_WARN("plugin", w);
    warnings->push_back(std::move(w));
  }
  auto r = k->adoptKeptNamespaces();
  if (!r.ok()) return Error{r.code(), "namespace keep directory " + keepDir + ": " + r.error().message};
  LOG_INFO("plugin", "network namespaces are also kept in " << keepDir << " (" << r->restored << " restored, "
                                                            << r->kept << " newly kept)");
  return kernel::KernelPtr(std::move(k));
}

}  // namespace weft::plugin
