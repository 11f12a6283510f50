#include "kernel/validate.h"

#include <sys/socket.h>

#include <cctype>

namespace weft::kernel {

Error invalid(const std::string& what) { return Error{EINVAL, what + ": invalid argument"}; }

Status checkLinkName(const std::string& op, const std::string& name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..")
    return invalid(op + ": link name '" + name + "' must be 1..15 bytes");
  for (char c : name)
    if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)))
      return invalid(op + ": link name '" + name + "' contains '/', ':' or whitespace");
  return {};
}

Status checkNetnsName(const std::string& op, const Netns& name) {
  if (name.empty()) return invalid(op + ": the host namespace cannot be created or deleted");
  if (name.size() > 255 || name[0] == '.')
    return invalid(op + ": namespace name '" + name + "' must be 1..255 bytes, not starting with '.'");
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
      return invalid(op + ": namespace name '" + name + "' may only hold [A-Za-z0-9_.-]");
  return {};
}

Status checkMtu(const std::string& op, uint32_t mtu, bool allowZero, uint32_t max) {
  if (mtu == 0 && allowZero) return {};
  if (mtu < kMinMtu || mtu > max)
    return invalid(op + ": mtu " + std::to_string(mtu) + " outside " + std::to_string(kMinMtu) + ".." +
                   std::to_string(max));
  return {};
}

Status checkVxlanSpec(const VxlanSpec& spec) {
  const std::string op = "createVxlan " + spec.name;
  if (auto s = checkLinkName("createVxlan", spec.name); !s) return s;
  if (spec.vni > kMaxVni) return invalid(op + ": vni " + std::to_string(spec.vni) + " above 16777215");
  bool v6 = false;
  if (!spec.local.empty()) {
    auto ip = IpAddr::parse(spec.local);
    if (!ip) return invalid(op + ": local address '" + spec.local + "'");
    v6 = ip->isV6();
  }
  if (!spec.mac.empty()) {
    auto mac = MacAddr::parse(spec.mac);
    if (!mac || mac->isZero() || (mac->bytes[0] & 1))
      return invalid(op + ": device MAC '" + spec.mac + "' is not a unicast MAC address");
  }
  return checkMtu(op, spec.mtu, true, kMaxMtu - (v6 ? kVxlanHeadroom6 : kVxlanHeadroom4));
}

Result<std::vector<IpAddr>> checkEchoProbes(const std::vector<EchoProbe>& probes,
                                            std::chrono::milliseconds timeout) {
  if (probes.size() > kMaxEchoProbes)
    return invalid("echo: " + std::to_string(probes.size()) + " probes, at most " +
                   std::to_string(kMaxEchoProbes) + " at once");
  if (timeout.count() < 0 || timeout > kMaxEchoTimeout)
    return invalid("echo: timeout " + std::to_string(timeout.count()) + " ms is outside 0-" +
                   std::to_string(kMaxEchoTimeout.count()) + " ms");
  std::vector<IpAddr> out;
  out.reserve(probes.size());
  for (const auto& p : probes) {
    auto ip = IpAddr::parse(p.dst);
    if (!ip) return invalid("echo: destination '" + p.dst + "' is not an IP address");
    const uint32_t min = ip->isV6() ? kMinEchoSize6 : kMinEchoSize;
    if (p.size < min || p.size > kMaxEchoSize)
      return invalid("echo: probe size " + std::to_string(p.size) + " to " + p.dst + " is outside " +
                     std::to_string(min) + "-" + std::to_string(kMaxEchoSize) + " bytes");
    out.push_back(*ip);
  }
  return out;
}

Result<Prefix> parseIfAddr(const std::string& op, const std::string& cidr) {
  auto c = Prefix::parseHostOrPrefix(cidr);
  if (!c) return invalid(op + ": address '" + cidr + "' is not an IP/prefix");
  return *c;
}

Status checkRoute(const std::string& op, const Route& r) {
  if (r.dev.empty() && !r.gateway)
    return invalid(op + ": route to " + routeName(r) + " needs a gateway or a device");
  if (!r.dev.empty())
    if (auto s = checkLinkName(op, r.dev); !s) return s;
  if (!r.dst.hostBitsZero()) return invalid(op + ": destination " + r.dst.str() + " has host bits set");
  if (r.gateway && r.gateway->family != r.dst.addr.family)
    return invalid(op + ": gateway " + r.gateway->str() + " and destination " + routeName(r) +
                   " differ in family");
  return {};
}

std::string routeName(const Route& r) {
  if (r.dst.len != 0) return r.dst.str();
  return r.dst.addr.isV6() ? "default (IPv6)" : "default";
}

bool isFloodMac(const MacAddr& m) { return m.isZero() || m.isMulticast(); }

Status checkFdb(const std::string& op, const FdbEntry& e, FdbUse use) {
  if (auto s = checkLinkName(op, e.dev); !s) return s;
  if (!e.dst && use != FdbUse::kDelete)
    return invalid(op + ": FDB entry for " + e.mac.str() + " has no remote VTEP");
  if (use == FdbUse::kAppend && !isFloodMac(e.mac))
    return invalid(op + ": append is only for the all-zero/multicast flood MAC, not " + e.mac.str());
  return {};
}

Status checkNeigh(const std::string& op, const NeighEntry& e) { return checkLinkName(op, e.dev); }

Status checkSysctlKey(const std::string& op, const std::string& key) {
  if (key.rfind("net/", 0) != 0 || key.size() > 512)
    return invalid(op + ": sysctl key '" + key + "' must be a net/... path");
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string::npos) end = key.size();
    std::string seg = key.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..")
      return invalid(op + ": sysctl key '" + key + "' has an empty, '.' or '..' segment");
    for (char c : seg)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
        return invalid(op + ": sysctl key '" + key + "' has a bad character");
    start = end + 1;
  }
  return {};
}

std::string toLowerHex(const std::string& s) {
  std::string out = s;
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

static Result<std::pair<IpAddr, IpAddr>> parsePair(const std::string& op, const std::string& what,
                                                   const std::string& a, const std::string& b) {
  auto x = IpAddr::parse(a), y = IpAddr::parse(b);
  if (!x || !y) return invalid(op + ": " + what + " addresses '" + a + "', '" + b + "'");
  if (x->family != y->family) return invalid(op + ": " + what + " addresses differ in family");
  return std::pair{*x, *y};
}

Result<ParsedXfrmState> parseXfrmState(const std::string& op, const XfrmState& s, XfrmUse use) {
  auto pr = parsePair(op, "state", s.src, s.dst);
  if (!pr) return pr.error();
  if (s.spi == 0) return invalid(op + ": spi 0");
  ParsedXfrmState p{pr->first, pr->second, toLowerHex(s.aeadKeyHex)};
  if (use == XfrmUse::kDelete) return p;
  size_t n = p.keyHex.size();
  if (n % 2 || (n != 40 && n != 56 && n != 72))
    return invalid(op + ": AEAD key must be 20, 28 or 36 bytes (AES key + 4-byte salt) in hex");
  for (char c : p.keyHex)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return invalid(op + ": AEAD key is not hex");
  if (s.icvBits != 64 && s.icvBits != 96 && s.icvBits != 128)
    return invalid(op + ": ICV must be 64, 96 or 128 bits");
  if (s.esn && (s.replayWindow > kMaxXfrmReplayWindow || s.replayWindow % 32))
    return invalid(op + ": ESN replay window must be a multiple of 32 up to " +
                   std::to_string(kMaxXfrmReplayWindow) + " packets, got " + std::to_string(s.replayWindow));
  if (!s.esn && s.replayWindow > kLegacyReplayWindow)
    return invalid(op + ": replay window without ESN must be at most " + std::to_string(kLegacyReplayWindow) +
                   " packets, got " + std::to_string(s.replayWindow));
  return p;
}

Result<ParsedXfrmPolicy> parseXfrmPolicy(const std::string& op, const XfrmPolicy& p, XfrmUse use) {
  auto pr = parsePair(op, "selector", p.src, p.dst);
  if (!pr) return pr.error();
  ParsedXfrmPolicy out{pr->first, pr->second, {}, {}};
  if (p.dir != XfrmDir::kIn && p.dir != XfrmDir::kOut && p.dir != XfrmDir::kFwd)
    return invalid(op + ": direction");
  if (use == XfrmUse::kDelete) return out;
  if (p.block) {
    if (!p.tmplSrc.empty() || !p.tmplDst.empty() || p.reqid || p.spi)
      return invalid(op + ": a block policy has no ESP template (template addresses, reqid, spi)");
    return out;
  }
  for (auto [text, slot] : {std::pair{&p.tmplSrc, &out.tmplSrc}, std::pair{&p.tmplDst, &out.tmplDst}}) {
    if (text->empty()) continue;
    *slot = IpAddr::parse(*text);
    if (!*slot || (*slot)->family != out.src.family)
      return invalid(op + ": template address '" + *text + "'");
  }
  return out;
}

}  // namespace weft::kernel
