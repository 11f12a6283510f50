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

// Every field but counters (a field added to XfrmState belongs here).
bool XfrmState::operator==(const XfrmState& o) const {
  return src == o.src && dst == o.dst && spi == o.spi && reqid == o.reqid && aeadKeyHex == o.aeadKeyHex &&
         icvBits == o.icvBits && esn == o.esn && replayWindow == o.replayWindow;
}

}  // namespace weft::kernel
