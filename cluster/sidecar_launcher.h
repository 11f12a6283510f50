#pragma once
// Starting the weft-gossip sidecar, behind an interface so the supervisor's
// policy (restart, replay, resync, prune) is tested against a fake sidecar
// over a socketpair, without processes.

#include <sys/types.h>

#include <memory>
#include <string>

#include "common/result.h"

namespace weft::cluster {

// One running sidecar. Thread-safe: terminate() may come from another thread
// while wait() blocks.
class Sidecar {
 public:
  virtual ~Sidecar() = default;
  // The plugin's end of the IPC channel; valid until the Sidecar is destroyed.
  virtual int fd() const = 0;
  // Asks it to stop and unblocks whoever reads or writes fd(); returns at once.
  virtual void terminate() = 0;
  // Ends it now, whatever state it is in (SIGKILL also ends a stopped
  // process, which SIGTERM does not), and unblocks fd() like terminate().
  virtual void kill() = 0;
  // Its process id, for logs and tests; -1 when it is not a process.
  virtual pid_t pid() const = 0;
  // Blocks until it has exited; says how ("exit status 1", "signal 9").
  virtual std::string wait() = 0;
};
using SidecarPtr = std::shared_ptr<Sidecar>;

class SidecarLauncher {
 public:
  virtual ~SidecarLauncher() = default;
  virtual Result<SidecarPtr> launch() = 0;
};

// The uid and gid weft-gossip runs as once it has bound its sockets: its
// own, shared with no other process, so nothing else on the host can signal
// it, ptrace it or read its memory (uid 65534 is every `nobody` process's).
// 65533 is in the ranges that neither Debian (65000-65533, never allocated
// by adduser) nor systemd (DynamicUser 61184-65519, containers 65536+)
// hands out, is not `nobody` (65534) nor distroless's `nonroot` (65532), and
// needs no /etc/passwd entry, which the managed plugin's rootfs does not
// have. SIDECAR_USER (plugin/config.h) chooses another.
inline constexpr uid_t kDefaultSidecarUid = 65533;
inline constexpr gid_t kDefaultSidecarGid = 65533;

// The real one: fork+exec of the weft-gossip binary, its end of a
// SOCK_SEQPACKET socketpair as fd 3, told the uid/gid to drop to.
class ProcessLauncher : public SidecarLauncher {
 public:
  // logFormat: "text" or "json" (the sidecar writes to weft-plugin's stderr,
  // so its lines are in the plugin's format).
  ProcessLauncher(std::string binary, std::string logLevel, uid_t uid = kDefaultSidecarUid,
                  gid_t gid = kDefaultSidecarGid, std::string logFormat = "text")
      : binary_(std::move(binary)),
        logLevel_(std::move(logLevel)),
        uid_(uid),
        gid_(gid),
        logFormat_(std::move(logFormat)) {}
  Result<SidecarPtr> launch() override;

 private:
  std::string binary_;
  std::string logLevel_;
  uid_t uid_;
  gid_t gid_;
  std::string logFormat_;
};

}  // namespace weft::cluster
