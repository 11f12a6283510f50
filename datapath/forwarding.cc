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

bool isLinkLocalGroup(const IpAddr& g) {
  const auto& b = g.bytes;
  if (g.isV6()) return b[0] == 0xff && ((b[1] & 0x0f) == 0x01 || (b[1] & 0x0f) == 0x02);
  return b[0] == 224 && b[1] == 0 && b[2] == 0;
}

bool isMulticastAddr(const IpAddr& g) { return g.isV6() ? g.bytes[0] == 0xff : (g.bytes[0] & 0xf0) == 0xe0; }

Status ForwardingTable::setGroup(const IpAddr& group, const std::vector<std::string>& vteps) {
  if (!isMulticastAddr(group) || isLinkLocalGroup(group))
    return Error{EINVAL, "datapath: " + group.str() + " is not a routable multicast group"};
  std::vector<PeerAddr> peers;
  for (const auto& v : vteps) {
    auto p = parsePeerAddr(v, port_);
    if (!p) return p.error();
    peers.push_back(*p);
  }
  std::sort(peers.begin(), peers.end());
  peers.erase(std::unique(peers.begin(), peers.end()), peers.end());
  if (peers.size() > kMaxPeersPerNetwork)
    return Error{ENOSPC, "datapath: group " + group.str() + " has more than " +
                             std::to_string(kMaxPeersPerNetwork) + " peers"};
  if (!groups_.contains(group) && groups_.size() >= kMaxGroupsPerNetwork)
    return Error{ENOSPC, "datapath: group table full (" + std::to_string(kMaxGroupsPerNetwork) + " groups)"};
  groups_[group] = std::move(peers);
  return Status::Ok();
}

Status ForwardingTable::removeGroup(const IpAddr& group) {
  if (groups_.erase(group) == 0) return Error{ENOENT, "datapath: no group entry for " + group.str()};
  return Status::Ok();
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

ForwardingTable::Route ForwardingTable::lookupGroup(std::span<const uint8_t> frame) const {
  const Route flood{Kind::kFlood, flood_};
  if (groups_.empty()) return flood;
  const unsigned type = frame[12] << 8 | frame[13];
  IpAddr dst;
  if (type == 0x0800 && frame.size() >= 14 + 20) {
    dst = IpAddr::fromBytes(AF_INET, frame.data() + 14 + 16);
  } else if (type == 0x86dd && frame.size() >= 14 + 40) {
    dst = IpAddr::fromBytes(AF_INET6, frame.data() + 14 + 24);
  } else {
    return flood;  // broadcast (ARP), other protocols, VLAN tags, cut headers
  }
  // The group bit alone does not make the IP destination a group (a unicast
  // IP under a multicast MAC is odd but possible): only a group is pruned.
  if (!isMulticastAddr(dst) || isLinkLocalGroup(dst)) return flood;
  auto it = groups_.find(dst);
  if (it == groups_.end()) return flood;
  return {Kind::kGroup, it->second};
}

ForwardingTable::Route ForwardingTable::lookup(std::span<const uint8_t> frame) const {
  if (frame.size() < 14) return {};
  if (frame[0] & 1) return lookupGroup(frame);  // broadcast or multicast
  uint64_t dst = 0;
  for (size_t i = 0; i < 6; ++i) dst = dst << 8 | frame[i];
  if (auto it = macs_.find(dst); it != macs_.end())
    return {Kind::kUnicast, std::span<const PeerAddr>(&it->second, 1)};
  return {Kind::kFlood, flood_};
}

}  // namespace weft::datapath
