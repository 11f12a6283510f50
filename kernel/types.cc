#include "kernel/types.h"

namespace weft::kernel {

const char* linkKindName(LinkKind k) {
  switch (k) {
    case LinkKind::kBridge:
      return "bridge";
    case LinkKind::kVeth:
      return "veth";
    case LinkKind::kVxlan:
      return "vxlan";
    case LinkKind::kOther:
      return "other";
  }
  return "other";
}

}  // namespace weft::kernel
