#include "services/name_table.h"

#include <algorithm>

#include "common/dns_name.h"

namespace weft::services {

Status normaliseNameSet(NameSet& s) {
  if (!s.ipv4 && !s.ipv6)
    return Error{EINVAL, "names of endpoint " + s.endpoint.substr(0, 12) + ": no address"};
  std::vector<std::string> out;
  for (const auto& n : s.names) {
    if (!validDnsName(n))
      return Error{EINVAL, "names of endpoint " + s.endpoint.substr(0, 12) + ": \"" + n.substr(0, 64) +
                               "\" is not a DNS name"};
    std::string l = lowerName(n);
    if (std::find(out.begin(), out.end(), l) == out.end()) out.push_back(std::move(l));
  }
  if (out.size() > kMaxNamesPerEndpoint)
    return Error{EINVAL, "names of endpoint " + s.endpoint.substr(0, 12) + ": " + std::to_string(out.size()) +
                             " names, at most " + std::to_string(kMaxNamesPerEndpoint)};
  s.names = std::move(out);
  return Status::Ok();
}

Status NameTable::putLocal(NameSet s) {
  s.owner.clear();
  return put(std::move(s), false);
}

Status NameTable::putRemote(NameSet s) {
  if (s.owner.empty()) return Error{EINVAL, "remote names without an owner"};
  Key k{s.network, s.endpoint};
  if (auto it = seen_.find(k); it != seen_.end()) {
    if (it->second.owner != s.owner)
      return Error{EPERM, "names of endpoint " + s.endpoint.substr(0, 12) + " written by " + s.owner +
                              ", which does not own it (" + it->second.owner + " does)"};
    if ((s.ipv4 && it->second.ipv4 != s.ipv4) || (s.ipv6 && it->second.ipv6 != s.ipv6))
      return Error{EPERM, "names of endpoint " + s.endpoint.substr(0, 12) + " from " + s.owner +
                              " give an address the endpoint does not have"};
  }
  return put(std::move(s), true);
}

Status NameTable::put(NameSet s, bool remote) {
  if (auto st = normaliseNameSet(s); !st) return st;
  Key k{s.network, s.endpoint};
  auto it = sets_.find(k);
  if (it == sets_.end() && sets_.size() >= kMaxNameSets)
    return Error{ENOSPC, "names: " + std::to_string(kMaxNameSets) + " name sets held already"};
  // A local set is never replaced by a remote one of the same key (a forged
  // record naming one of our endpoints).
  if (remote && it != sets_.end() && it->second.owner.empty())
    return Error{EPERM, "names of endpoint " + s.endpoint.substr(0, 12) + " claimed by " + s.owner +
                            ", but it is this host's"};
  unindex(k);
  for (const auto& n : s.names) index_[{s.network, n}].insert(s.endpoint);
  sets_[k] = std::move(s);
  return Status::Ok();
}

void NameTable::unindex(const Key& k) {
  auto it = sets_.find(k);
  if (it == sets_.end()) return;
  for (const auto& n : it->second.names) {
    auto ix = index_.find({k.first, n});
    if (ix == index_.end()) continue;
    ix->second.erase(k.second);
    if (ix->second.empty()) {
      index_.erase(ix);
      turn_.erase({k.first, n});
    }
  }
}

void NameTable::remove(const std::string& network, const std::string& endpoint) {
  Key k{network, endpoint};
  unindex(k);
  sets_.erase(k);
}

void NameTable::endpointSeen(const std::string& network, const std::string& endpoint,
                             const std::string& owner, const std::optional<IpAddr>& ipv4,
                             const std::optional<IpAddr>& ipv6, bool active) {
  Key k{network, endpoint};
  if (!active) {
    seen_.erase(k);
    return;
  }
  if (!seen_.count(k) && seen_.size() >= kMaxNameSets) return;  // answers nothing for it: bounded
  seen_[k] = {owner, ipv4, ipv6};
}

void NameTable::clearRemote() {
  seen_.clear();
  std::vector<Key> remote;
  for (const auto& [k, s] : sets_)
    if (!s.owner.empty()) remote.push_back(k);
  for (const auto& k : remote) remove(k.first, k.second);
}

bool NameTable::answers(const Key& k, const NameSet& s) const {
  if (s.owner.empty()) return true;
  auto it = seen_.find(k);
  if (it == seen_.end() || it->second.owner != s.owner) return false;
  if (s.ipv4 && it->second.ipv4 != s.ipv4) return false;
  if (s.ipv6 && it->second.ipv6 != s.ipv6) return false;
  return true;
}

std::optional<std::vector<IpAddr>> NameTable::lookup(const std::string& network, const std::string& name,
                                                     Turn turn) {
  auto ix = index_.find({network, lowerName(name)});
  if (ix == index_.end()) return std::nullopt;
  std::vector<IpAddr> v4, v6;
  for (const auto& ep : ix->second) {
    Key k{network, ep};
    const NameSet& s = sets_.at(k);
    if (!answers(k, s)) continue;
    if (s.ipv4) v4.push_back(*s.ipv4);
    if (s.ipv6) v6.push_back(*s.ipv6);
  }
  if (v4.empty() && v6.empty()) return std::nullopt;
  Turns& t = turn_[ix->first];
  auto rotate = [](std::vector<IpAddr>& v, uint64_t& n, bool advance) {
    if (!v.empty()) std::rotate(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n % v.size()), v.end());
    if (advance) ++n;
  };
  rotate(v4, t.v4, turn == Turn::kBoth || turn == Turn::kV4);
  rotate(v6, t.v6, turn == Turn::kBoth || turn == Turn::kV6);
  v4.insert(v4.end(), v6.begin(), v6.end());
  return v4;
}

std::vector<std::pair<NameSet, bool>> NameTable::sets(const std::string& network) const {
  std::vector<std::pair<NameSet, bool>> out;
  for (auto it = sets_.lower_bound({network, ""}); it != sets_.end() && it->first.first == network; ++it)
    out.emplace_back(it->second, answers(it->first, it->second));
  return out;
}

}  // namespace weft::services
