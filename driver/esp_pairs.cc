#include "driver/esp_pairs.h"

#include <arpa/inet.h>

#include "datapath/keys.h"

namespace weft::driver {

namespace {

namespace dp = weft::datapath;
using kernel::XfrmDir;
using kernel::XfrmPolicy;
using kernel::XfrmState;

Error invalid(const std::string& what) { return Error{EINVAL, "esp: " + what}; }

int family(const std::string& addr) {
  in6_addr buf{};
  if (inet_pton(AF_INET, addr.c_str(), &buf) == 1) return AF_INET;
  if (inet_pton(AF_INET6, addr.c_str(), &buf) == 1) return AF_INET6;
  return 0;
}

std::string hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += d[p[i] >> 4], s += d[p[i] & 15];
  return s;
}

// A per-peer reqid (FNV-1a of the peer id, never 0): the inbound policy
// requires an SA with it, so an SA negotiated for one peer does not satisfy
// another peer's policy. Local to this host; peers need not agree on it.
uint32_t reqidFor(const std::string& peerId) {
  uint32_t h = 2166136261u;
  for (unsigned char c : peerId) h = (h ^ c) * 16777619u;
  return h ? h : 1;
}

}  // namespace

Result<EspPairs> EspPairs::create(kernel::Kernel& k, EspConfig cfg, std::vector<uint8_t> material) {
  if (cfg.port == 0) return invalid("the encrypted VXLAN port must not be 0");
  if (!family(cfg.selfAddr))
    return invalid("this host's address '" + cfg.selfAddr + "' is not an IP address");
  if (cfg.replayWindow < 32 || cfg.replayWindow > kernel::kMaxXfrmReplayWindow || cfg.replayWindow % 32)
    return invalid("replay window must be a multiple of 32 from 32 to " +
                   std::to_string(kernel::kMaxXfrmReplayWindow) + ", got " +
                   std::to_string(cfg.replayWindow));
  // Validates material size and ids with the KDF's own rules.
  if (auto s = dp::validate(material, dp::Direction{cfg.scope, cfg.selfId, cfg.selfId + "'"}); !s)
    return s.error();
  return EspPairs(k, std::move(cfg), std::move(material));
}

Result<std::pair<XfrmState, XfrmState>> EspPairs::states(const EspPeer& peer, uint32_t reqid,
                                                         uint32_t epoch) const {
  auto in = dp::deriveEspKey(material_, dp::Direction{cfg_.scope, peer.id, cfg_.selfId}, epoch);
  if (!in) return in.error();
  auto out = dp::deriveEspKey(material_, dp::Direction{cfg_.scope, cfg_.selfId, peer.id}, epoch);
  if (!out) return out.error();
  auto sa = [&](const std::string& src, const std::string& dst, const dp::EspKey& key) {
    XfrmState s;
    s.src = src;
    s.dst = dst;
    s.spi = key.spi;
    s.reqid = reqid;
    s.aeadKeyHex = hex(key.keyAndSalt.data(), key.keyAndSalt.size());
    s.icvBits = 128;
    s.esn = true;
    s.replayWindow = cfg_.replayWindow;
    return s;
  };
  return std::pair{sa(peer.addr, cfg_.selfAddr, *in), sa(cfg_.selfAddr, peer.addr, *out)};
}

XfrmPolicy EspPairs::outPolicy(const PairState& p, uint32_t spi) const {
  return XfrmPolicy{XfrmDir::kOut, cfg_.selfAddr, p.peer.addr, cfg_.port,
                    cfg_.selfAddr, p.peer.addr,   p.reqid,     spi};
}

XfrmPolicy EspPairs::inPolicy(const PairState& p) const {
  return XfrmPolicy{XfrmDir::kIn, p.peer.addr,   cfg_.selfAddr, cfg_.port,
                    p.peer.addr,  cfg_.selfAddr, p.reqid,       0};
}

Status EspPairs::installEpoch(PairState& p, uint32_t epoch) {
  if (p.inSpi.count(epoch)) return Status::Ok();
  auto sas = states(p.peer, p.reqid, epoch);
  if (!sas) return sas.error();
  auto& [in, out] = *sas;
  if (auto s = k_->addXfrmState(in); !s) return s;
  if (auto s = k_->addXfrmState(out); !s) {
    (void)k_->delXfrmState(in);
    return s;
  }
  p.inSpi[epoch] = in.spi;
  p.outSpi[epoch] = out.spi;
  return Status::Ok();
}

Status EspPairs::removeEpoch(PairState& p, uint32_t epoch) {
  auto sas = states(p.peer, p.reqid, epoch);
  if (!sas) return sas.error();
  Status result = Status::Ok();
  for (const XfrmState& s : {sas->first, sas->second})
    if (auto st = k_->delXfrmState(s); !st.okOr(ENOENT) && result) result = st;
  if (result) {
    p.inSpi.erase(epoch);
    p.outSpi.erase(epoch);
  }
  return result;
}

Status EspPairs::addPeer(const EspPeer& peer, uint32_t epoch) {
  if (pairs_.count(peer.id)) return Error{EEXIST, "esp: peer " + peer.id + " already has ESP"};
  if (pairs_.size() >= kMaxEspPeers)
    return Error{ENOSPC, "esp: at most " + std::to_string(kMaxEspPeers) + " peers"};
  if (family(peer.addr) != family(cfg_.selfAddr))
    return invalid("peer " + peer.id + " address '" + peer.addr + "' is not an address of " + cfg_.selfAddr +
                   "'s family");
  if (peer.addr == cfg_.selfAddr) return invalid("peer " + peer.id + " has this host's address");
  PairState p;
  p.peer = peer;
  p.reqid = reqidFor(peer.id);
  p.active = epoch;
  if (auto s = installEpoch(p, epoch); !s) return s;
  if (auto s = k_->addXfrmPolicy(inPolicy(p)); !s) {
    (void)removeEpoch(p, epoch);
    return s;
  }
  if (auto s = k_->addXfrmPolicy(outPolicy(p, p.outSpi[epoch])); !s) {
    (void)k_->delXfrmPolicy(inPolicy(p));
    (void)removeEpoch(p, epoch);
    return s;
  }
  pairs_.emplace(peer.id, std::move(p));
  return Status::Ok();
}

Status EspPairs::removePeer(const std::string& id) {
  auto it = pairs_.find(id);
  if (it == pairs_.end()) return Error{ENOENT, "esp: no ESP for peer " + id};
  PairState& p = it->second;
  // Without the out policy, traffic to the port would leave unencrypted: the
  // caller removes the peer's VXLAN forwarding entries before this.
  Status result = Status::Ok();
  for (const XfrmPolicy& pol : {outPolicy(p, 0), inPolicy(p)})
    if (auto s = k_->delXfrmPolicy(pol); !s.okOr(ENOENT) && result) result = s;
  std::vector<uint32_t> epochs;
  for (const auto& [e, spi] : p.inSpi) epochs.push_back(e);
  for (uint32_t e : epochs)
    if (auto s = removeEpoch(p, e); !s && result) result = s;
  if (result) pairs_.erase(it);
  return result;
}

std::vector<XfrmPolicy> EspPairs::portBlocks() const {
  const std::string any = family(cfg_.selfAddr) == AF_INET6 ? "::" : "0.0.0.0";
  // No template (tmpl*, reqid, spi): a block policy discards.
  return {XfrmPolicy{XfrmDir::kIn, any, cfg_.selfAddr, cfg_.port, "", "", 0, 0, true},
          XfrmPolicy{XfrmDir::kOut, cfg_.selfAddr, any, cfg_.port, "", "", 0, 0, true}};
}

Status EspPairs::closePort() {
  // All or nothing, but one that was there before (adopted) stays.
  std::vector<XfrmPolicy> added;
  for (const XfrmPolicy& p : portBlocks()) {
    Status s = k_->addXfrmPolicy(p);
    if (s) {
      added.push_back(p);
    } else if (!s.okOr(EEXIST)) {
      for (const XfrmPolicy& a : added) (void)k_->delXfrmPolicy(a);
      return s;
    }
  }
  return Status::Ok();
}

Status EspPairs::openPort() {
  Status result = Status::Ok();
  for (const XfrmPolicy& p : portBlocks())
    if (auto s = k_->delXfrmPolicy(p); !s.okOr(ENOENT) && result) result = s;
  return result;
}

Status EspPairs::prepare(const std::string& id, uint32_t epoch) {
  auto it = pairs_.find(id);
  if (it == pairs_.end()) return Error{ENOENT, "esp: no ESP for peer " + id};
  PairState& p = it->second;
  if (p.inSpi.count(epoch))
    return Error{EEXIST, "esp: epoch " + std::to_string(epoch) + " of peer " + id + " is already installed"};
  if (p.previous)
    return Error{EBUSY, "esp: peer " + id + " has a previous epoch still installed: retire it first"};
  if (p.next) return Error{EBUSY, "esp: peer " + id + " already has a prepared epoch"};
  if (auto s = installEpoch(p, epoch); !s) return s;
  p.next = epoch;
  return Status::Ok();
}

Status EspPairs::activate(const std::string& id, uint32_t epoch) {
  auto it = pairs_.find(id);
  if (it == pairs_.end()) return Error{ENOENT, "esp: no ESP for peer " + id};
  PairState& p = it->second;
  if (p.next != epoch)
    return Error{EINVAL, "esp: epoch " + std::to_string(epoch) + " of peer " + id + " is not prepared"};
  if (auto s = k_->updateXfrmPolicy(outPolicy(p, p.outSpi[epoch])); !s) return s;
  p.previous = p.active;
  p.active = epoch;
  p.next.reset();
  return Status::Ok();
}

Status EspPairs::retire(const std::string& id) {
  auto it = pairs_.find(id);
  if (it == pairs_.end()) return Error{ENOENT, "esp: no ESP for peer " + id};
  PairState& p = it->second;
  if (!p.previous) return Error{ENOENT, "esp: peer " + id + " has no previous epoch to retire"};
  if (auto s = removeEpoch(p, *p.previous); !s) return s;
  p.previous.reset();
  return Status::Ok();
}

std::vector<std::string> EspPairs::peers() const {
  std::vector<std::string> out;
  for (const auto& [id, p] : pairs_) out.push_back(id);
  return out;
}

const EspPairs::PairState* EspPairs::pair(const std::string& id) const {
  auto it = pairs_.find(id);
  return it == pairs_.end() ? nullptr : &it->second;
}

}  // namespace weft::driver
