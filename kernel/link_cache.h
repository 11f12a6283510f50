#pragma once
// Private to kernel/: what NetlinkKernel remembers about the links of one
// namespace, so that programming a neighbour or FDB entry costs one netlink
// round trip instead of two (no RTM_GETLINK per call). An entry is dropped
// when the shim deletes, retires or (re)creates the link, and the whole
// cache goes with its namespace's socket (namespace deleted or replaced). A
// link deleted behind weft's back leaves a stale index; the kernel answers
// ENODEV for it (interface indexes are not reused within a namespace), and
// the caller then forgets the entry and looks the link up again. A link
// *renamed* behind weft's back keeps its index, and entries would follow it:
// the shim assumes nobody else renames links in the namespaces it manages
// (weft itself renames only through retireLink, which forgets the name).

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "kernel/types.h"

namespace weft::kernel {

struct LinkRef {
  int index = 0;
  LinkKind kind = LinkKind::kOther;
};

class LinkCache {
 public:
  std::optional<LinkRef> find(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = links_.find(name);
    if (it == links_.end()) return std::nullopt;
    return it->second;
  }
  void put(const std::string& name, LinkRef ref) {
    std::lock_guard<std::mutex> lock(mu_);
    links_[name] = ref;
  }
  void forget(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    links_.erase(name);
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mu_);
    links_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, LinkRef> links_;
};

}  // namespace weft::kernel
