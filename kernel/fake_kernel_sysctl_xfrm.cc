// FakeKernel: sysctls and xfrm.
#include <algorithm>
#include <cctype>

#include "kernel/fake_kernel.h"
#include "kernel/fake_kernel_util.h"
#include "kernel/validate.h"

namespace weft::kernel {

using fake::exists;
using fake::notFound;

namespace {

struct KnownLeaf {
  const char* leaf;
  const char* deflt;
};
// Per-device sysctls the fake knows, under net/<family>/<table>/<dev>/<leaf>.
constexpr KnownLeaf kIpv4Conf[] = {
    {"forwarding", "0"},     {"rp_filter", "0"},          {"proxy_arp", "0"},      {"accept_local", "0"},
    {"arp_ignore", "0"},     {"arp_announce", "0"},       {"send_redirects", "1"}, {"accept_redirects", "1"},
    {"route_localnet", "0"}, {"arp_accept", "0"},         {"log_martians", "0"},   {"proxy_arp_pvlan", "0"},
    {"arp_notify", "0"},     {"promote_secondaries", "0"}};
constexpr KnownLeaf kIpv6Conf[] = {{"forwarding", "0"},        {"disable_ipv6", "0"},    {"accept_dad", "1"},
                                   {"accept_ra", "1"},         {"autoconf", "1"},        {"proxy_ndp", "0"},
                                   {"keep_addr_on_down", "0"}, {"accept_redirects", "1"}};
constexpr KnownLeaf kNeigh[] = {{"gc_stale_time", "60"},
                                {"base_reachable_time_ms", "30000"},
                                {"mcast_solicit", "3"},
                                {"ucast_solicit", "3"},
                                {"app_solicit", "0"}};
constexpr KnownLeaf kGlobal[] = {{"net/ipv4/ip_forward", "0"},
                                 {"net/ipv4/ip_nonlocal_bind", "0"},
                                 {"net/ipv6/ip_nonlocal_bind", "0"},
                                 {"net/ipv4/conf/all/forwarding", "0"},
                                 {"net/core/somaxconn", "4096"}};

std::optional<std::string> canonicalInt(const std::string& v) {
  size_t i = 0, end = v.size();
  while (end > 0 && std::isspace(static_cast<unsigned char>(v[end - 1]))) --end;
  bool neg = false;
  if (i < end && v[i] == '-') neg = true, ++i;
  if (i == end || end - i > 18) return std::nullopt;
  long long x = 0;
  for (; i < end; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(v[i]))) return std::nullopt;
    x = x * 10 + (v[i] - '0');
  }
  return std::to_string(neg ? -x : x);
}

}  // namespace

bool FakeKernel::sysctlKnownLocked(const Namespace& n, const std::string& key, std::string* deflt) const {
  for (auto& g : kGlobal)
    if (key == g.leaf) return *deflt = g.deflt, true;
  struct Table {
    const char* prefix;
    const KnownLeaf* leaves;
    size_t count;
    bool hasAll;
  };
  const Table tables[] = {{"net/ipv4/conf/", kIpv4Conf, std::size(kIpv4Conf), true},
                          {"net/ipv6/conf/", kIpv6Conf, std::size(kIpv6Conf), true},
                          {"net/ipv4/neigh/", kNeigh, std::size(kNeigh), false},
                          {"net/ipv6/neigh/", kNeigh, std::size(kNeigh), false}};
  for (const Table& t : tables) {
    if (key.rfind(t.prefix, 0) != 0) continue;
    std::string rest = key.substr(std::string(t.prefix).size());
    auto slash = rest.find('/');
    if (slash == std::string::npos) return false;
    std::string dev = rest.substr(0, slash), leaf = rest.substr(slash + 1);
    bool devOk = dev == "default" || (t.hasAll && dev == "all") || n.links.count(dev);
    if (!devOk) return false;
    for (size_t i = 0; i < t.count; ++i)
      if (leaf == t.leaves[i].leaf) return *deflt = t.leaves[i].deflt, true;
    return false;
  }
  return false;
}

Status FakeKernel::setSysctl(const Netns& ns, const std::string& key, const std::string& value) {
  FAKE_ENTER("setSysctl");
  if (auto s = checkSysctlKey("setSysctl", key); !s) return s;
  auto n = nsLocked("setSysctl", ns);
  if (!n) return n.error();
  std::string deflt;
  if (!sysctlKnownLocked(**n, key, &deflt)) return notFound("setSysctl", "sysctl " + key);
  auto v = canonicalInt(value);
  if (!v) return invalid("setSysctl " + key + ": value '" + value + "' is not an integer");
  auto& sys = (*n)->sysctls;
  // Like the kernel: ip_forward is conf/all/forwarding, and writing the "all"
  // forwarding switch writes it on "default" and every device too.
  if (key == "net/ipv4/ip_forward" || key == "net/ipv4/conf/all/forwarding" ||
      key == "net/ipv6/conf/all/forwarding") {
    const std::string fam = key.find("ipv6") != std::string::npos ? "ipv6" : "ipv4";
    if (fam == "ipv4") {
      sys["net/ipv4/ip_forward"] = *v;
      sys["net/ipv4/conf/all/accept_redirects"] = *v == "0" ? "1" : "0";
    }
    for (const std::string& d : {std::string("all"), std::string("default")})
      sys["net/" + fam + "/conf/" + d + "/forwarding"] = *v;
    for (auto& [dev, l] : (*n)->links) sys["net/" + fam + "/conf/" + dev + "/forwarding"] = *v;
    return {};
  }
  sys[key] = *v;
  return {};
}

Result<std::string> FakeKernel::getSysctl(const Netns& ns, const std::string& key) {
  FAKE_ENTER("getSysctl");
  if (auto s = checkSysctlKey("getSysctl", key); !s) return s.error();
  auto n = nsLocked("getSysctl", ns);
  if (!n) return n.error();
  std::string deflt;
  if (!sysctlKnownLocked(**n, key, &deflt)) return notFound("getSysctl", "sysctl " + key);
  auto it = (*n)->sysctls.find(key);
  return it == (*n)->sysctls.end() ? deflt : it->second;
}

// --- xfrm ---

Status FakeKernel::addXfrmState(const XfrmState& s) {
  FAKE_ENTER("addXfrmState");
  auto p = parseXfrmState("addXfrmState", s, XfrmUse::kAdd);
  if (!p) return p.error();
  for (const XfrmState& have : xfrmStates_)
    if (have.dst == p->dst.str() && have.spi == s.spi)
      return exists("addXfrmState", "SA to " + have.dst + " spi " + std::to_string(s.spi));
  XfrmState stored = s;
  stored.src = p->src.str();
  stored.dst = p->dst.str();
  stored.aeadKeyHex = p->keyHex;
  stored.counters = XfrmCounters{};  // the kernel's start at 0, whatever was asked
  xfrmStates_.push_back(stored);
  return {};
}

Status FakeKernel::delXfrmState(const XfrmState& s) {
  FAKE_ENTER("delXfrmState");
  auto p = parseXfrmState("delXfrmState", s, XfrmUse::kDelete);
  if (!p) return p.error();
  size_t removed = std::erase_if(
      xfrmStates_, [&](const XfrmState& have) { return have.dst == p->dst.str() && have.spi == s.spi; });
  if (!removed) return notFound("delXfrmState", "SA to " + s.dst + " spi " + std::to_string(s.spi));
  return {};
}

Result<std::vector<XfrmState>> FakeKernel::listXfrmStates() {
  FAKE_ENTER("listXfrmStates");
  return xfrmStates_;
}

Status FakeKernel::setXfrmCounters(const std::string& dst, uint32_t spi, const XfrmCounters& c) {
  std::lock_guard<std::mutex> lk(mu_);
  auto addr = IpAddr::parse(dst);
  for (XfrmState& have : xfrmStates_)
    if (addr && have.dst == addr->str() && have.spi == spi) {
      have.counters = c;
      return {};
    }
  return notFound("setXfrmCounters", "SA to " + dst + " spi " + std::to_string(spi));
}

namespace {

// p with its addresses as the kernel reports them, or the validation error.
Result<XfrmPolicy> canonicalPolicy(const std::string& op, const XfrmPolicy& p) {
  auto parsed = parseXfrmPolicy(op, p, XfrmUse::kAdd);
  if (!parsed) return parsed.error();
  XfrmPolicy stored = p;
  stored.src = parsed->src.str();
  stored.dst = parsed->dst.str();
  stored.tmplSrc = parsed->tmplSrc ? parsed->tmplSrc->str() : "";
  stored.tmplDst = parsed->tmplDst ? parsed->tmplDst->str() : "";
  return stored;
}

// The kernel keys a policy by direction and selector.
bool samePolicyKey(const XfrmPolicy& a, const XfrmPolicy& b) {
  return a.dir == b.dir && a.src == b.src && a.dst == b.dst && a.udpPort == b.udpPort;
}

}  // namespace

Status FakeKernel::addXfrmPolicy(const XfrmPolicy& p) {
  FAKE_ENTER("addXfrmPolicy");
  auto stored = canonicalPolicy("addXfrmPolicy", p);
  if (!stored) return stored.error();
  for (const XfrmPolicy& have : xfrmPolicies_)
    if (samePolicyKey(have, *stored))
      return exists("addXfrmPolicy", "policy " + stored->src + " -> " + stored->dst);
  xfrmPolicies_.push_back(*stored);
  return {};
}

Status FakeKernel::updateXfrmPolicy(const XfrmPolicy& p) {
  FAKE_ENTER("updateXfrmPolicy");
  auto stored = canonicalPolicy("updateXfrmPolicy", p);
  if (!stored) return stored.error();
  for (XfrmPolicy& have : xfrmPolicies_)
    if (samePolicyKey(have, *stored)) {
      have = *stored;
      return {};
    }
  xfrmPolicies_.push_back(*stored);
  return {};
}

Status FakeKernel::delXfrmPolicy(const XfrmPolicy& p) {
  FAKE_ENTER("delXfrmPolicy");
  auto parsed = parseXfrmPolicy("delXfrmPolicy", p, XfrmUse::kDelete);
  if (!parsed) return parsed.error();
  size_t removed = std::erase_if(xfrmPolicies_, [&](const XfrmPolicy& have) {
    return have.dir == p.dir && have.src == parsed->src.str() && have.dst == parsed->dst.str() &&
           have.udpPort == p.udpPort;
  });
  if (!removed) return notFound("delXfrmPolicy", "policy " + p.src + " -> " + p.dst);
  return {};
}

Result<std::vector<XfrmPolicy>> FakeKernel::listXfrmPolicies() {
  FAKE_ENTER("listXfrmPolicies");
  return xfrmPolicies_;
}

}  // namespace weft::kernel
