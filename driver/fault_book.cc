#include "driver/fault_book.h"

#include <algorithm>

namespace weft::driver {

bool FaultBook::fail(const std::string& id, const std::string& reason, Clock::time_point now) {
  auto [it, added] = faults_.try_emplace(id);
  Fault& f = it->second;
  const bool changed = added || f.reason != reason;
  f.reason = reason;
  f.delay = added ? firstRetry_ : std::min(maxRetry_, f.delay * 2);
  f.next = now + f.delay;
  return changed;
}

std::vector<std::string> FaultBook::due(Clock::time_point now) const {
  std::vector<std::string> out;
  for (const auto& [id, f] : faults_)
    if (f.next <= now) out.push_back(id);
  return out;
}

void FaultBook::retain(const std::function<bool(const std::string&)>& keep) {
  std::erase_if(faults_, [&](const auto& kv) { return !keep(kv.first); });
}

std::map<std::string, std::string> FaultBook::reasons() const {
  std::map<std::string, std::string> out;
  for (const auto& [id, f] : faults_) out.emplace(id, f.reason);
  return out;
}

FaultBook::Clock::duration FaultBook::delay(const std::string& id) const {
  auto it = faults_.find(id);
  return it == faults_.end() ? Clock::duration::zero() : it->second.delay;
}

}  // namespace weft::driver
