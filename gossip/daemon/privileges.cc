#include "gossip/daemon/privileges.h"

#include <grp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace weft::gossip {

Status dropPrivileges(uid_t uid, gid_t gid) {
  if (uid == 0 || gid == 0) return Error{EINVAL, "weft-gossip must not run as uid or gid 0"};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Error::fromErrno(errno, "PR_SET_NO_NEW_PRIVS");
  if (::geteuid() == 0) {
    if (::setgroups(0, nullptr) != 0) return Error::fromErrno(errno, "setgroups");
    if (::setresgid(gid, gid, gid) != 0) return Error::fromErrno(errno, "setresgid");
    // Leaving uid 0 clears the permitted, effective and ambient capabilities.
    if (::setresuid(uid, uid, uid) != 0) return Error::fromErrno(errno, "setresuid");
  }
  // Check: no effective capability left.
  std::ifstream st("/proc/self/status");
  std::string line;
  while (std::getline(st, line))
    if (line.rfind("CapEff:", 0) == 0 && line.find_first_not_of("0\t ", 7) != std::string::npos)
      return Error{EPERM, "capabilities remain after dropping privileges: " + line};
  return Status::Ok();
}

}  // namespace weft::gossip
