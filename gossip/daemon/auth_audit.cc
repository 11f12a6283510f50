#include "gossip/daemon/auth_audit.h"

#include <algorithm>
#include <sstream>
#include <vector>

namespace weft::gossip {

void AuthAudit::record(const std::string& host, Time now) {
  ++total_;
  ++sinceLog_;
  auto it = sources_.find(host);
  if (it == sources_.end()) {
    if (sources_.size() >= kMaxAuditedSources) {
      // Evict the smallest offender (the least recent among equals).
      auto victim = std::min_element(sources_.begin(), sources_.end(), [](const auto& a, const auto& b) {
        return a.second.failures != b.second.failures ? a.second.failures < b.second.failures
                                                      : a.second.last < b.second.last;
      });
      untracked_ += victim->second.failures;
      untrackedSinceLog_ += victim->second.sinceLog;
      sources_.erase(victim);
    }
    it = sources_.emplace(host, Source{}).first;
  }
  ++it->second.failures;
  ++it->second.sinceLog;
  it->second.last = now;
}

void AuthAudit::expire(Time now) {
  for (auto it = sources_.begin(); it != sources_.end();) {
    if (now - it->second.last >= kAuditedSourceTtl) {
      untracked_ += it->second.failures;
      untrackedSinceLog_ += it->second.sinceLog;
      it = sources_.erase(it);
    } else {
      ++it;
    }
  }
}

std::optional<std::string> AuthAudit::summary(Time now, const std::string& keyFingerprint) {
  if (sinceLog_ == 0 || (lastLog_ && now - *lastLog_ < kAuthLogInterval)) return std::nullopt;
  std::vector<std::pair<std::string, uint64_t>> recent;
  for (const auto& [host, s] : sources_)
    if (s.sinceLog > 0) recent.emplace_back(host, s.sinceLog);
  std::sort(recent.begin(), recent.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::ostringstream line;
  line << sinceLog_ << " packet(s) failed authentication";
  if (lastLog_)
    line << " in the last " << std::chrono::duration_cast<std::chrono::seconds>(now - *lastLog_).count()
         << " s";
  line << " from " << recent.size() << (untrackedSinceLog_ > 0 ? "+" : "") << " host(s): ";
  for (size_t i = 0; i < recent.size() && i < kAuthLogTopSources; ++i)
    line << (i ? ", " : "") << recent[i].first << " (" << recent[i].second << ")";
  if (recent.size() > kAuthLogTopSources || untrackedSinceLog_ > 0)
    line << (recent.empty() ? "" : ", ") << "and others";
  line << "; they use a different cluster key or label, or are forged (our key fingerprint " << keyFingerprint
       << ")";
  for (auto& [host, s] : sources_) s.sinceLog = 0;
  sinceLog_ = 0;
  untrackedSinceLog_ = 0;
  lastLog_ = now;
  return line.str();
}

std::string describeAuthProblem(size_t aliveOthers, const std::map<std::string, uint64_t>& refusedBy,
                                const AuthAudit& audit, const std::string& keyFingerprint) {
  if (aliveOthers > 0 || (refusedBy.empty() && audit.sources().empty())) return {};
  auto list = [](const auto& m) {
    std::string out;
    size_t n = 0;
    for (const auto& [host, v] : m) {
      if (n++ == kAuthLogTopSources) return out + ", ...";
      out += (out.empty() ? "" : ", ") + host;
    }
    return out;
  };
  std::string s = "this host cannot authenticate with any other host:";
  if (!refusedBy.empty()) s += " its streams are refused by " + list(refusedBy) + ";";
  if (!audit.sources().empty()) s += " packets from " + list(audit.sources()) + " fail authentication here;";
  return s + " check that every host uses the same cluster key and label (this host's key fingerprint " +
         keyFingerprint + ")";
}

}  // namespace weft::gossip
