#pragma once
// Who fails to authenticate: per source host, packets and stream hellos this
// node could not open (a host with another cluster key or label, or forgeries
// from anywhere). Anyone can send those from any address, so everything here
// is bounded: at most kMaxAuditedSources hosts are tracked (a new one evicts
// the one with the fewest failures, so the top offenders stay), an entry
// expires kAuditedSourceTtl after its last failure, and the log gets at most
// one summary line per kAuthLogInterval naming at most kAuthLogTopSources.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "gossip/record.h"

namespace weft::gossip {

inline constexpr size_t kMaxAuditedSources = 64;
inline constexpr auto kAuditedSourceTtl = std::chrono::minutes(10);
inline constexpr auto kAuthLogInterval = std::chrono::seconds(10);
inline constexpr size_t kAuthLogTopSources = 5;

class AuthAudit {
 public:
  struct Source {
    uint64_t failures = 0;
    uint64_t sinceLog = 0;  // failures since the last summary line
    Time last{};
  };

  void record(const std::string& host, Time now);
  // Drops entries idle for kAuditedSourceTtl.
  void expire(Time now);
  // The summary line for the log when something failed since the last one
  // and kAuthLogInterval has passed; nothing otherwise.
  std::optional<std::string> summary(Time now, const std::string& keyFingerprint);

  const std::map<std::string, Source>& sources() const { return sources_; }
  uint64_t total() const { return total_; }
  // Failures of hosts not in sources() (evicted, expired, or never kept).
  uint64_t untracked() const { return untracked_; }

 private:
  std::map<std::string, Source> sources_;
  uint64_t total_ = 0;
  uint64_t untracked_ = 0;
  uint64_t sinceLog_ = 0;
  uint64_t untrackedSinceLog_ = 0;
  std::optional<Time> lastLog_;
};

// What the status says when this host authenticates with nobody: no other
// member is alive, and peers refuse its streams (`refusedBy`, per address) or
// their packets fail to open here. Empty when there is no such problem.
std::string describeAuthProblem(size_t aliveOthers, const std::map<std::string, uint64_t>& refusedBy,
                                const AuthAudit& audit, const std::string& keyFingerprint);

}  // namespace weft::gossip
