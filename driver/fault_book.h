#pragma once
// Networks that are not usable on this host, why, and when to try them
// again: the first retry after `firstRetry`, then doubling up to `maxRetry`.
// Plain bookkeeping with time passed in (no clock, no lock, no kernel): the
// Driver holds one under its lock and decides what a retry does.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace weft::driver {

class FaultBook {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kDefaultMaxRetry = std::chrono::seconds(60);

  explicit FaultBook(Clock::duration firstRetry, Clock::duration maxRetry = kDefaultMaxRetry)
      : firstRetry_(firstRetry), maxRetry_(maxRetry) {}

  // `id` failed (again) for `reason` at `now`: its next retry is firstRetry
  // later the first time, twice the previous delay (at most maxRetry) after
  // that. True when the reason is new -- the first fault, or another reason
  // than last time -- so a caller logs once per reason, not per retry.
  bool fail(const std::string& id, const std::string& reason, Clock::time_point now);
  void clear(const std::string& id) { faults_.erase(id); }
  bool faulted(const std::string& id) const { return faults_.count(id) > 0; }
  // Faulted ids whose retry time has come, in id order.
  std::vector<std::string> due(Clock::time_point now) const;
  // Forgets the ids `keep` says no to (networks deleted meanwhile).
  void retain(const std::function<bool(const std::string&)>& keep);
  std::map<std::string, std::string> reasons() const;  // id -> why
  // Until the next retry of id (zero when it is not faulted).
  Clock::duration delay(const std::string& id) const;

 private:
  struct Fault {
    std::string reason;
    Clock::duration delay{};  // until the next retry, doubling
    Clock::time_point next;
  };
  Clock::duration firstRetry_, maxRetry_;
  std::map<std::string, Fault> faults_;
};

}  // namespace weft::driver
