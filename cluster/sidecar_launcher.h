#pragma once
// Starting the weft-gossip sidecar, behind an interface so the supervisor's
// policy (restart, replay, resync, prune) is tested against a fake sidecar
// over a socketpair, without processes.

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
  // Blocks until it has exited; says how ("exit status 1", "signal 9").
  virtual std::string wait() = 0;
};
using SidecarPtr = std::shared_ptr<Sidecar>;

class SidecarLauncher {
 public:
  virtual ~SidecarLauncher() = default;
  virtual Result<SidecarPtr> launch() = 0;
};

// The real one: fork+exec of the weft-gossip binary, its end of a
// SOCK_SEQPACKET socketpair as fd 3.
class ProcessLauncher : public SidecarLauncher {
 public:
  // logFormat: "text" or "json" (the sidecar writes to weft-plugin's stderr,
  // so its lines are in the plugin's format).
  ProcessLauncher(std::string binary, std::string logLevel, std::string logFormat = "text")
      : binary_(std::move(binary)), logLevel_(std::move(logLevel)), logFormat_(std::move(logFormat)) {}
  Result<SidecarPtr> launch() override;

 private:
  std::string binary_;
  std::string logLevel_;
  std::string logFormat_;
};

}  // namespace weft::cluster
