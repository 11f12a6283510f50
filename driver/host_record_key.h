#pragma once
// The endpoint key of a control-plane record that a host publishes about
// itself, one per kind: "<kind><owner>", the owner's underlay address with
// each ':' of an IPv6 address as '-' (an endpoint id allows no ':').
//
// These keys travel over the gossip between hosts of different weft
// versions: a key once released must never change (tests/unit/
// host_record_key_test.cc pins every kind's). Kinds in use: "mtu."
// (driver/network_mtus.h), "pool." (driver/ipam_pool_names.h), "caps."
// (driver/crypto_select.h), "esp." (driver/esp_epochs.h).

#include <algorithm>
#include <string>

#include "common/ip.h"
#include "driver/cluster.h"

namespace weft::driver {

// The endpoint key of `owner`'s record of kind `kind` ("mtu.", "caps.", ...).
inline std::string hostRecordKey(const std::string& kind, const std::string& owner) {
  std::string k = kind + owner;
  std::replace(k.begin(), k.end(), ':', '-');
  return k;
}

// Whether `r` is its owner's own: an address as owner (vtep) and that
// owner's key.
inline bool ownerNamedByKey(const EndpointRecord& r, const std::string& kind) {
  return IpAddr::parse(r.vtep) && r.endpoint == hostRecordKey(kind, r.vtep);
}

}  // namespace weft::driver
