#include "datapath/forwarding.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>

namespace weft::datapath {

std::string PeerAddr::str() const {
  char buf[INET6_ADDRSTRLEN] = "?";
  inet_ntop(family, addr.data(), buf, sizeof buf);
  return family == AF_INET6 ? "[" + std::string(buf) + "]:" + std::to_string(port)
                            : std::string(buf) + ":" + std::to_string(port);
}

Result<PeerAddr> parsePeerAddr(const std::string& ip, uint16_t port) {
  PeerAddr p;
  p.port = port;
  if (inet_pton(AF_INET, ip.c_str(), p.addr.data()) == 1)
    p.family = AF_INET;
  else if (inet_pton(AF_INET6, ip.c_str(), p.addr.data()) == 1)
    p.family = AF_INET6;
  else
    return Error{EINVAL, "datapath: peer address '" + ip + "' is not an IPv4 or IPv6 address"};
  return p;
}

Result<uint64_t> parseMac(const std::string& mac) {
  bool ok = mac.size() == 17;
  uint64_t v = 0;
  for (size_t i = 0; ok && i < mac.size(); ++i) {
    if (i % 3 == 2) {
      ok = mac[i] == ':';
      continue;
    }
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(mac[i])));
    ok = std::isxdigit(static_cast<unsigned char>(c));
    v = v << 4 | static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  if (!ok) return Error{EINVAL, "datapath: '" + mac + "' is not a MAC address (xx:xx:xx:xx:xx:xx)"};
  return v;
}

Status ForwardingTable::setMac(const std::string& mac, const std::string& vtep) {
  auto m = parseMac(mac);
  if (!m) return m.error();
  // The group bit is the lowest bit of the first byte.
  if (*m == 0 || (*m >> 40) & 1)
    return Error{EINVAL,
                 "datapath: " + mac + " is not a unicast MAC; group and zero MACs are always flooded"};
  auto peer = parsePeerAddr(vtep, port_);
  if (!peer) return peer.error();
  if (!macs_.contains(*m) && macs_.size() >= kMaxMacsPerNetwork)
    return Error{ENOSPC, "datapath: forwarding table full (" + std::to_string(kMaxMacsPerNetwork) + " MACs)"};
  macs_[*m] = *peer;
  return Status::Ok();
}

Status ForwardingTable::removeMac(const std::string& mac) {
  auto m = parseMac(mac);
  if (!m) return m.error();
  if (macs_.erase(*m) == 0) return Error{ENOENT, "datapath: no forwarding entry for " + mac};
  return Status::Ok();
}

Status ForwardingTable::addFloodPeer(const std::string& vtep) {
  auto peer = parsePeerAddr(vtep, port_);
  if (!peer) return peer.error();
  auto it = std::lower_bound(flood_.begin(), flood_.end(), *peer);
  if (it != flood_.end() && *it == *peer)
    return Error{EEXIST, "datapath: " + vtep + " is already a flood peer"};
  if (flood_.size() >= kMaxPeersPerNetwork)
    return Error{ENOSPC, "datapath: flood list full (" + std::to_string(kMaxPeersPerNetwork) + " peers)"};
  flood_.insert(it, *peer);
  return Status::Ok();
}

Status ForwardingTable::removeFloodPeer(const std::string& vtep) {
  auto peer = parsePeerAddr(vtep, port_);
  if (!peer) return peer.error();
  auto it = std::lower_bound(flood_.begin(), flood_.end(), *peer);
  if (it == flood_.end() || !(*it == *peer))
    return Error{ENOENT, "datapath: " + vtep + " is not a flood peer"};
  flood_.erase(it);
  return Status::Ok();
}

ForwardingTable::Route ForwardingTable::lookup(std::span<const uint8_t> frame) const {
  if (frame.size() < 14) return {};
  if (frame[0] & 1) return {Kind::kFlood, flood_};  // broadcast or multicast
  uint64_t dst = 0;
  for (size_t i = 0; i < 6; ++i) dst = dst << 8 | frame[i];
  if (auto it = macs_.find(dst); it != macs_.end())
    return {Kind::kUnicast, std::span<const PeerAddr>(&it->second, 1)};
  return {Kind::kFlood, flood_};
}

}  // namespace weft::datapath
