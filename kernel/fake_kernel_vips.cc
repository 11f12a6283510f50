// FakeKernel: service VIP tables. A namespace is named by its file, as a
// container's SandboxKey is: the fake finds the namespace whose netnsPath()
// that file is.
#include "kernel/fake_kernel.h"
#include "kernel/fake_kernel_util.h"

namespace weft::kernel {

using fake::notFound;

Status FakeKernel::setServiceVips(const std::string& netnsPath, const std::string& tag,
                                  const std::vector<ServiceVip>& vips) {
  FAKE_ENTER("setServiceVips");
  // The same checks as the real kernel's script (EINVAL before anything).
  if (auto script = renderVipScript(tag, vips); !script) return script.error();
  for (auto& [name, n] : namespaces_) {
    if (name.empty() || name[0] == '/' || this->netnsPath(name) != netnsPath) continue;  // host, orphans
    if (vips.empty())
      n.vipTables.erase(tag);
    else
      n.vipTables[tag] = vips;
    return Status::Ok();
  }
  return notFound("setServiceVips", "network namespace file " + netnsPath);
}

std::optional<std::vector<ServiceVip>> FakeKernel::serviceVips(const std::string& netnsPath,
                                                               const std::string& tag) const {
  std::lock_guard<std::mutex> lk(mu_);
  for (const auto& [name, n] : namespaces_) {
    if (name.empty() || name[0] == '/' || this->netnsPath(name) != netnsPath) continue;  // host, orphans
    auto it = n.vipTables.find(tag);
    if (it == n.vipTables.end()) return std::nullopt;
    return it->second;
  }
  return std::nullopt;
}

}  // namespace weft::kernel
