#pragma once
// EndpointRecord: where one endpoint (container interface) of a network lives.
// Records change only at their owner; `version` comes from the owner's
// monotonic counter (shared by all its records, starting from its boot time so
// a restarted owner's writes win) and decides merges.

#include <chrono>
#include <cstdint>
#include <string>
#include <tuple>

namespace weft::gossip {

// Time on a Clock: real or virtual, microseconds since that clock's origin.
using Duration = std::chrono::microseconds;
using Time = std::chrono::microseconds;

struct EndpointRecord {
  std::string network;
  std::string endpoint;
  std::string ipv4;   // "10.0.0.2/24", may be empty
  std::string ipv6;   // may be empty
  std::string mac;    // "02:42:0a:00:00:02"
  std::string vtep;   // underlay address of the owner's VTEP
  std::string owner;  // node id of the owner
  uint64_t version = 0;
  bool deleted = false;   // tombstone
  Time tombstoneTime{0};  // local: when this node stored the tombstone (not sent)

  // Identity of the content as it travels (tombstoneTime is local).
  auto wireTie() const { return std::tie(network, endpoint, ipv4, ipv6, mac, vtep, owner, version, deleted); }
  bool sameWire(const EndpointRecord& o) const { return wireTie() == o.wireTie(); }
};

}  // namespace weft::gossip
