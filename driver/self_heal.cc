// Run-time self-healing: the kernel state of every usable network's sandbox
// is compared with what weft wants and put back, periodically and when the
// sandbox's namespace reports a change (see Driver::selfHeal).

#include <algorithm>

#include "common/log.h"
#include "driver/driver.h"
#include "driver/names.h"
#include "driver/sandbox.h"

namespace weft::driver {

Status Driver::healLinksLocked(Network& n, std::vector<Correction>* fixes) {
  std::vector<std::string> did;  // the words go with each Correction
  const size_t before = fixes->size();
  if (auto st = reconcileSandbox(kernel_, sandboxSpecLocked(n), &did, fixes); !st) return st;
  // An encrypted network's port is a TAP on br0 that the userspace plane
  // holds: after a repair of the sandbox the plane attaches it again (it
  // opens a new TAP when the namespace is a new one).
  if (n.encrypted() && fixes->size() > before)
    if (auto st = attachEncryptedLocked(n); !st) return st;
  // Joined endpoints' veths: on br0 and up. A veth that vanished is
  // sweepVanished()'s business (its endpoint is withdrawn, not re-plugged).
  for (const auto& eid : n.endpoints) {
    const Endpoint& e = endpoints_.at(eid);
    if (!e.joined) continue;
    auto l = kernel_.getLink(n.netns, e.sandboxVeth);
    if (!l.ok()) continue;
    if (l->master != kBridgeName && kernel_.setMaster(n.netns, e.sandboxVeth, kBridgeName).ok())
      fixes->push_back({"link", "replaced", "re-attached " + e.sandboxVeth + " to br0"});
    if (!l->up && kernel_.setLinkUp(n.netns, e.sandboxVeth, true).ok())
      fixes->push_back({"link", "up", "set " + e.sandboxVeth + " up"});
  }
  return Status::Ok();
}

size_t Driver::selfHeal() {
  if (cfg_.reconcileInterval.count() <= 0) return 0;
  struct Due {
    std::string id, identity;
  };
  std::vector<Due> due;
  std::vector<std::pair<std::string, Correction>> fixes;  // network id, what
  {
    std::lock_guard<std::mutex> lk(mu_);
    const auto now = std::chrono::steady_clock::now();
    const bool all = now >= nextHeal_;
    if (all) nextHeal_ = now + cfg_.reconcileInterval;
    // One watch per usable network; a new one means a first look.
    std::erase_if(watches_,
                  [&](const auto& kv) { return !networks_.count(kv.first) || faults_.faulted(kv.first); });
    std::erase_if(healFailing_, [&](const auto& kv) { return !networks_.count(kv.first); });
    for (auto& [id, n] : networks_) {
      if (faults_.faulted(id)) continue;
      bool look = all;
      auto w = watches_.find(id);
      if (w == watches_.end()) {
        auto opened = kernel_.watchChanges(n.netns);
        if (opened.ok()) w = watches_.emplace(id, std::move(*opened)).first;
        look = true;  // (without a watch: every call, until one opens)
      }
      if (w != watches_.end() && w->second->drain() > 0) look = true;
      if (healFailing_.count(id)) look = true;  // a failed repair is tried again at every call
      if (!look) continue;
      std::vector<Correction> linkFixes;
      if (auto st = healLinksLocked(n, &linkFixes); !st) {
        if (healFailing_.insert_or_assign(id, st.error().message).second)
          LOG_WARN("reconcile", "network " << id.substr(0, 12) << ": cannot repair its sandbox ("
                                           << st.error().message << "); trying again");
      } else if (healFailing_.erase(id)) {
        LOG_INFO("reconcile", "network " << id.substr(0, 12) << ": sandbox repaired");
      }
      for (auto& f : linkFixes) {
        // A rebuilt namespace is a new one: the old watch sees nothing more.
        if (f.table == "netns") watches_.erase(id);
        fixes.emplace_back(id, std::move(f));
      }
      due.push_back({id, n.identity});
    }
  }
  // Remote endpoints' entries: under the peer table's own programming lock
  // (not the driver's: sync() takes it without mu_, and so does heal()).
  std::vector<std::string> identities;
  for (const auto& d : due) identities.push_back(d.identity);
  for (auto& f : peers_.heal(identities)) {
    auto d = std::find_if(due.begin(), due.end(), [&](const Due& x) { return x.identity == f.identity; });
    fixes.emplace_back(d == due.end() ? f.identity : d->id, Correction{f.table, f.action, f.what});
  }
  if (fixes.empty()) return 0;
  std::lock_guard<std::mutex> lk(mu_);
  for (const auto& [id, f] : fixes) {
    ++corrections_[{f.table, f.action}];
    lastFix_ = f.what;
    lastFixNetwork_ = id;
    lastFixAt_ = std::chrono::system_clock::now();
    log::Context ctx(id, "");
    LOG_INFO("reconcile", "network " << id.substr(0, 12) << ": " << f.what);
  }
  return fixes.size();
}

std::map<std::pair<std::string, std::string>, uint64_t> Driver::corrections() const {
  std::lock_guard<std::mutex> lk(mu_);
  return corrections_;
}

Driver::SelfHealSummary Driver::selfHealSummary() const {
  SelfHealSummary s;
  s.removesStrays = peers_.synced();  // its own lock: taken before mu_, never inside it
  std::lock_guard<std::mutex> lk(mu_);
  s.on = cfg_.reconcileInterval.count() > 0;
  s.interval = cfg_.reconcileInterval;
  for (const auto& [k, n] : corrections_) s.corrections += n;
  s.last = lastFix_;
  s.lastNetwork = lastFixNetwork_;
  s.lastAt = lastFixAt_;
  s.failing = healFailing_;
  return s;
}

}  // namespace weft::driver
