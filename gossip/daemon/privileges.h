#pragma once
#include "common/result.h"

namespace weft::gossip {
// Gives up root and every capability for good: no groups, uid/gid `nobody`
// (65534), no new privileges. A no-op check when not root.
Status dropPrivileges();
}  // namespace weft::gossip
