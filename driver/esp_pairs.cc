#include "driver/esp_pairs.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <functional>

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

Result<XfrmState> EspPairs::state(const EspPeer& peer, uint32_t reqid, bool inbound, uint32_t epoch) const {
  const dp::Direction dir = inbound ? dp::Direction{cfg_.scope, peer.id, cfg_.selfId}
                                    : dp::Direction{cfg_.scope, cfg_.selfId, peer.id};
  auto key = dp::deriveEspKey(material_, dir, epoch);
  if (!key) return key.error();
  XfrmState s;
  s.src = inbound ? peer.addr : cfg_.selfAddr;
  s.dst = inbound ? cfg_.selfAddr : peer.addr;
  s.spi = key->spi;
  s.reqid = reqid;
  s.aeadKeyHex = hex(key->keyAndSalt.data(), key->keyAndSalt.size());
  s.icvBits = 128;
  s.esn = true;
  s.replayWindow = cfg_.replayWindow;
  return s;
}

XfrmPolicy EspPairs::outPolicy(const PairState& p, uint32_t spi) const {
  return XfrmPolicy{XfrmDir::kOut, cfg_.selfAddr, p.peer.addr, cfg_.port,
                    cfg_.selfAddr, p.peer.addr,   p.reqid,     spi};
}

XfrmPolicy EspPairs::inPolicy(const PairState& p) const {
  return XfrmPolicy{XfrmDir::kIn, p.peer.addr,   cfg_.selfAddr, cfg_.port,
                    p.peer.addr,  cfg_.selfAddr, p.reqid,       0};
}

// --- leftovers of an earlier run ---

Status EspPairs::readLeftovers() {
  auto states = k_->listXfrmStates();
  if (!states) return Error{states.code(), "esp: listing SAs: " + states.error().message};
  auto policies = k_->listXfrmPolicies();
  if (!policies) return Error{policies.code(), "esp: listing policies: " + policies.error().message};
  leftovers_.clear();
  // The other end of something with this host at one end, when the reqid
  // is that end's (the plane's peers: id = address); "" otherwise.
  auto peerOf = [&](const std::string& src, const std::string& dst, uint32_t reqid) -> std::string {
    const std::string other = src == cfg_.selfAddr ? dst : dst == cfg_.selfAddr ? src : "";
    return !other.empty() && other != cfg_.selfAddr && reqid == reqidFor(other) ? other : "";
  };
  for (const XfrmState& s : *states)
    if (auto peer = peerOf(s.src, s.dst, s.reqid); !peer.empty()) leftovers_[peer].states.push_back(s);
  for (const XfrmPolicy& p : *policies)
    if (!p.block && p.udpPort == cfg_.port && p.dir != XfrmDir::kFwd)
      if (auto peer = peerOf(p.src, p.dst, p.reqid); !peer.empty()) leftovers_[peer].policies.push_back(p);
  return Status::Ok();
}

std::vector<std::string> EspPairs::leftoverPeers() const {
  std::vector<std::string> out;
  for (const auto& [addr, l] : leftovers_) out.push_back(addr);
  return out;
}

namespace {

bool sameSa(const XfrmState& a, const XfrmState& b) {
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  return a.src == b.src && a.dst == b.dst && a.spi == b.spi && a.reqid == b.reqid &&
         lower(a.aeadKeyHex) == lower(b.aeadKeyHex) && a.icvBits == b.icvBits && a.esn == b.esn &&
         a.replayWindow == b.replayWindow;
}

}  // namespace

bool EspPairs::outIsLeftover(const EspPeer& peer, uint32_t epoch) const {
  auto l = leftovers_.find(peer.addr);
  if (l == leftovers_.end()) return false;
  auto want = state(peer, reqidFor(peer.id), false, epoch);
  if (!want) return false;
  for (const XfrmState& s : l->second.states)
    if (sameSa(s, *want)) return true;
  return false;
}

Status EspPairs::removeLeftovers() {
  Status result = Status::Ok();
  for (auto it = leftovers_.begin(); it != leftovers_.end();) {
    Leftover& l = it->second;
    // Policies first: an out policy without its SA would drop, not leak
    // (the port's block policy is below it), but nothing is left pointing
    // at a removed SA.
    std::erase_if(l.policies, [&](const XfrmPolicy& p) {
      Status st = k_->delXfrmPolicy(p);
      if (!st.okOr(ENOENT) && result) result = st;
      return st.okOr(ENOENT);
    });
    if (l.policies.empty())
      std::erase_if(l.states, [&](const XfrmState& s) {
        Status st = k_->delXfrmState(s);
        if (!st.okOr(ENOENT) && result) result = st;
        return st.okOr(ENOENT);
      });
    it = l.policies.empty() && l.states.empty() ? leftovers_.erase(it) : std::next(it);
  }
  return result;
}

// --- pairs ---

Status EspPairs::addPeer(const EspPeer& peer, uint32_t out, const std::set<uint32_t>& in) {
  if (pairs_.count(peer.id)) return Error{EEXIST, "esp: peer " + peer.id + " already has ESP"};
  if (pairs_.size() >= kMaxEspPeers)
    return Error{ENOSPC, "esp: at most " + std::to_string(kMaxEspPeers) + " peers"};
  if (family(peer.addr) != family(cfg_.selfAddr))
    return invalid("peer " + peer.id + " address '" + peer.addr + "' is not an address of " + cfg_.selfAddr +
                   "'s family");
  if (peer.addr == cfg_.selfAddr) return invalid("peer " + peer.id + " has this host's address");
  if (in.empty()) return invalid("peer " + peer.id + ": no inbound epoch");
  if (in.size() > kMaxEspInEpochs)
    return invalid("peer " + peer.id + ": at most " + std::to_string(kMaxEspInEpochs) +
                   " inbound epochs, got " + std::to_string(in.size()));
  PairState p;
  p.peer = peer;
  p.reqid = reqidFor(peer.id);
  p.out = out;
  // The wanted SAs: inbound ones, then the outbound one.
  std::vector<std::pair<uint32_t, XfrmState>> wantIn;
  for (uint32_t e : in) {
    auto s = state(peer, p.reqid, true, e);
    if (!s) return s.error();
    wantIn.emplace_back(e, std::move(*s));
  }
  auto wantOut = state(peer, p.reqid, false, out);
  if (!wantOut) return wantOut.error();

  Leftover left;
  if (auto l = leftovers_.find(peer.addr); l != leftovers_.end() && p.reqid == reqidFor(peer.addr))
    left = l->second;
  std::vector<std::function<void()>> undo;
  auto rollback = [&](Status st) {
    for (auto u = undo.rbegin(); u != undo.rend(); ++u) (*u)();
    return st;
  };
  // Adopts the SA when it is a leftover, else adds it (a leftover with its
  // SPI but other content -- other material -- is replaced).
  auto ensureSa = [&](const XfrmState& want) -> Status {
    for (auto it = left.states.begin(); it != left.states.end(); ++it) {
      if (it->dst != want.dst || it->spi != want.spi) continue;
      if (sameSa(*it, want)) {
        left.states.erase(it);
        return Status::Ok();
      }
      if (auto st = k_->delXfrmState(*it); !st.okOr(ENOENT)) return st;
      left.states.erase(it);
      break;
    }
    if (auto st = k_->addXfrmState(want); !st) return st;
    undo.push_back([this, want] { (void)k_->delXfrmState(want); });
    return Status::Ok();
  };
  for (const auto& [e, s] : wantIn) {
    if (auto st = ensureSa(s); !st) return rollback(st);
    p.inSpi[e] = s.spi;
  }
  if (auto st = ensureSa(*wantOut); !st) return rollback(st);
  p.outSpi[out] = wantOut->spi;
  p.usedOut.insert(out);
  // Policies: adopted when exactly so, moved in place (UPDPOLICY) when
  // there in another form, added otherwise.
  for (const XfrmPolicy& want : {inPolicy(p), outPolicy(p, wantOut->spi)}) {
    auto have = std::find_if(left.policies.begin(), left.policies.end(),
                             [&](const XfrmPolicy& h) { return h.dir == want.dir; });
    if (have != left.policies.end()) {
      const XfrmPolicy before = *have;
      left.policies.erase(have);
      if (before == want) continue;
      if (auto st = k_->updateXfrmPolicy(want); !st) return rollback(st);
      undo.push_back([this, before] { (void)k_->updateXfrmPolicy(before); });
    } else {
      if (auto st = k_->addXfrmPolicy(want); !st) return rollback(st);
      undo.push_back([this, want] { (void)k_->delXfrmPolicy(want); });
    }
  }
  // The pair's leftovers nobody wants any more (epochs of before, the
  // previous outbound SA of a rotation): removed now that no policy uses
  // them; failures are retried by setIn and removePeer.
  p.stale = std::move(left.states);
  (void)removeStale(p);
  leftovers_.erase(peer.addr);
  pairs_.emplace(peer.id, std::move(p));
  return Status::Ok();
}

Status EspPairs::removeStale(PairState& p) {
  Status result = Status::Ok();
  std::erase_if(p.stale, [&](const XfrmState& s) {
    Status st = k_->delXfrmState(s);
    if (!st.okOr(ENOENT) && result) result = st;
    return st.okOr(ENOENT);
  });
  return result;
}

Status EspPairs::removePeer(const std::string& id) {
  auto it = pairs_.find(id);
  if (it == pairs_.end()) return Error{ENOENT, "esp: no ESP for peer " + id};
  PairState& p = it->second;
  // Without the out policy, traffic to the port would leave unencrypted but
  // for the port's block policy: the caller removes the peer's VXLAN
  // forwarding entries before this.
  Status result = Status::Ok();
  for (const XfrmPolicy& pol : {outPolicy(p, 0), inPolicy(p)})
    if (auto s = k_->delXfrmPolicy(pol); !s.okOr(ENOENT) && result) result = s;
  if (!result) return result;
  auto drop = [&](std::map<uint32_t, uint32_t>& spis, bool inbound) {
    for (auto e = spis.begin(); e != spis.end();) {
      auto s = state(p.peer, p.reqid, inbound, e->first);
      Status st = s ? k_->delXfrmState(*s) : Status(s.error());
      if (!st.okOr(ENOENT)) {
        if (result) result = st;
        ++e;
      } else {
        e = spis.erase(e);
      }
    }
  };
  drop(p.inSpi, true);
  drop(p.outSpi, false);
  if (auto st = removeStale(p); !st && result) result = st;
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

Status EspPairs::setOut(const std::string& id, uint32_t epoch) {
  auto it = pairs_.find(id);
  if (it == pairs_.end()) return Error{ENOENT, "esp: no ESP for peer " + id};
  PairState& p = it->second;
  if (epoch == p.out) return Status::Ok();
  if (p.usedOut.count(epoch))
    return Error{EEXIST, "esp: outbound epoch " + std::to_string(epoch) + " to peer " + id +
                             " was used before (its sequence numbers would restart under the same key)"};
  // At most one previous SA: one left from an earlier switch goes first.
  if (p.previousOut)
    if (auto st = dropPreviousOut(id); !st) return st;
  auto sa = state(p.peer, p.reqid, false, epoch);
  if (!sa) return sa.error();
  if (auto st = k_->addXfrmState(*sa); !st) return st;
  p.usedOut.insert(epoch);  // added once: never again, even if what follows fails
  if (auto st = k_->updateXfrmPolicy(outPolicy(p, sa->spi)); !st) {
    (void)k_->delXfrmState(*sa);
    return st;
  }
  p.outSpi[epoch] = sa->spi;
  p.previousOut = p.out;
  p.out = epoch;
  return Status::Ok();
}

Status EspPairs::dropPreviousOut(const std::string& id) {
  auto it = pairs_.find(id);
  if (it == pairs_.end()) return Error{ENOENT, "esp: no ESP for peer " + id};
  PairState& p = it->second;
  if (!p.previousOut) return Status::Ok();
  auto sa = state(p.peer, p.reqid, false, *p.previousOut);
  if (!sa) return sa.error();
  if (auto st = k_->delXfrmState(*sa); !st.okOr(ENOENT)) return st;
  p.outSpi.erase(*p.previousOut);
  p.previousOut.reset();
  return Status::Ok();
}

Status EspPairs::setIn(const std::string& id, const std::set<uint32_t>& epochs) {
  auto it = pairs_.find(id);
  if (it == pairs_.end()) return Error{ENOENT, "esp: no ESP for peer " + id};
  if (epochs.empty()) return invalid("peer " + id + ": no inbound epoch");
  if (epochs.size() > kMaxEspInEpochs)
    return invalid("peer " + id + ": at most " + std::to_string(kMaxEspInEpochs) + " inbound epochs, got " +
                   std::to_string(epochs.size()));
  PairState& p = it->second;
  std::vector<std::pair<uint32_t, XfrmState>> added;
  for (uint32_t e : epochs) {
    if (p.inSpi.count(e)) continue;
    auto sa = state(p.peer, p.reqid, true, e);
    Status st = sa ? k_->addXfrmState(*sa) : Status(sa.error());
    if (!st) {
      for (const auto& [ae, a] : added) (void)k_->delXfrmState(a);
      return st;
    }
    added.emplace_back(e, *sa);
  }
  for (const auto& [e, a] : added) p.inSpi[e] = a.spi;
  Status result = Status::Ok();
  for (auto e = p.inSpi.begin(); e != p.inSpi.end();) {
    if (epochs.count(e->first)) {
      ++e;
      continue;
    }
    auto sa = state(p.peer, p.reqid, true, e->first);
    Status st = sa ? k_->delXfrmState(*sa) : Status(sa.error());
    if (st.okOr(ENOENT)) {
      e = p.inSpi.erase(e);
    } else {
      if (result) result = st;
      ++e;
    }
  }
  if (auto st = removeStale(p); !st && result) result = st;
  return result;
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
