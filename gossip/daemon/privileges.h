#pragma once
#include <sys/types.h>

#include "common/result.h"

namespace weft::gossip {
// Gives up root and every capability for good: no supplementary groups,
// uid/gid `uid`/`gid` (weft-gossip's own, cluster::kDefaultSidecarUid unless
// SIDECAR_USER says otherwise), no new privileges. Refuses uid or gid 0
// (that would keep root's files and, for uid 0, its capabilities). When not
// root it changes no ids and only checks that no capability is left.
Status dropPrivileges(uid_t uid, gid_t gid);
}  // namespace weft::gossip
