#pragma once
// What other hosts said about a key (a network's identity, a pool name), one
// value per host: the table behind control-plane records that every host
// publishes once per key under its own name (driver/network_mtus.h,
// driver/ipam_pool_names.h). The records' endpoint key names their owner,
// so a member can speak only for itself, and the number of hosts kept per
// key is bounded, so a member cannot make this host keep without end.

#include <map>
#include <string>

#include "driver/host_record_key.h"  // the records' keys: hostRecordKey, ownerNamedByKey

namespace weft::driver {

template <class V>
class PerHostTable {
 public:
  using Hosts = std::map<std::string, V>;  // host -> what it said

  explicit PerHostTable(size_t maxHostsPerKey) : maxHostsPerKey_(maxHostsPerKey) {}

  // Keeps what `host` said about `key`; false, changing nothing, when `key`
  // already has maxHostsPerKey() other hosts.
  bool put(const std::string& key, const std::string& host, V value) {
    auto& hosts = byKey_[key];
    if (!hosts.count(host) && hosts.size() >= maxHostsPerKey_) return false;
    hosts[host] = std::move(value);
    return true;
  }
  // `host` withdrew its record of `key`; a key no host speaks of goes.
  void erase(const std::string& key, const std::string& host) {
    auto it = byKey_.find(key);
    if (it != byKey_.end() && it->second.erase(host) && it->second.empty()) byKey_.erase(it);
  }
  // The hosts that said something about `key`, or null.
  const Hosts* find(const std::string& key) const {
    auto it = byKey_.find(key);
    return it == byKey_.end() ? nullptr : &it->second;
  }
  size_t maxHostsPerKey() const { return maxHostsPerKey_; }
  size_t size() const { return byKey_.size(); }  // keys

 private:
  size_t maxHostsPerKey_;
  std::map<std::string, Hosts> byKey_;
};

}  // namespace weft::driver
