// weftctl's routes (/weft.*): status and inspection of this host's weft,
// apart from Docker's protocol (plugin/api.cc). The same dispatch, limits
// and error form ({"Err": ...}) apply: they go through Api::handle().
#include <algorithm>
#include <chrono>
#include <cstring>

#include "plugin/api.h"
#include "plugin/decode.h"
#include "plugin/version.h"

namespace weft::plugin {

namespace {
// /weft.Peers' "dataPlane": the prober's view of each peer host.
Json dataPlaneJson(const driver::Prober* prober, const std::string& off) {
  if (!prober) return {{"probing", false}, {"reason", off}};
  Json peers = Json::array();
  const auto now = std::chrono::system_clock::now();
  for (const auto& p : prober->peers()) {
    Json x = {{"vtep", p.vtep},
              {"state", driver::peerStateName(p.state)},
              {"mtu", p.mtu},
              {"smallOk", p.smallOk},
              {"mtuOk", p.mtuOk},
              {"rounds", p.rounds},
              {"rttMicros", p.rttMicros}};
    if (p.lastSuccess) {
      x["lastSuccessUnix"] =
          std::chrono::duration_cast<std::chrono::seconds>(p.lastSuccess->time_since_epoch()).count();
      x["lastSuccessAgoMs"] =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - *p.lastSuccess).count();
    }
    if (p.sendError) x["sendError"] = std::strerror(p.sendError);
    peers.push_back(std::move(x));
  }
  return {{"probing", true}, {"peers", peers}};
}
// Each network's MTU here and on the other hosts that carry it; a host
// with another MTU is a problem (both hosts say so), one that says no MTU
// (an older weft) a notice.
Json mtuJson(const std::vector<driver::Driver::NetworkMtuView>& views, const std::string& self,
             Json& problems, Json& notices) {
  Json out = Json::array();
  for (const auto& v : views) {
    Json hosts = Json::object();
    for (const auto& [host, mtu] : v.hosts) hosts[host] = mtu;
    for (const auto& host : v.unknown) hosts[host] = "unknown";
    out.push_back({{"network", v.networkId}, {"identity", v.identity}, {"mtu", v.mtu}, {"hosts", hosts}});
    const std::string net = "network " + v.networkId.substr(0, 12) + " (" + v.identity + ")";
    for (const auto& [host, theirs] : v.hosts) {
      if (theirs == v.mtu) continue;
      const uint32_t low = std::min(theirs, v.mtu);
      const std::string lowHost = v.mtu < theirs ? self + " (this host)" : host;
      problems.push_back({{"kind", "mtu"},
                          {"network", v.networkId},
                          {"identity", v.identity},
                          {"peer", host},
                          {"mtu", v.mtu},
                          {"peerMtu", theirs},
                          {"message", net + " has MTU " + std::to_string(v.mtu) + " on this host (" + self +
                                          ") but " + std::to_string(theirs) + " on host " + host +
                                          ": packets larger than " + std::to_string(low) +
                                          " bytes between their containers are dropped -- create the " +
                                          "network with the same -o mtu on every host (e.g. -o mtu=" +
                                          std::to_string(low) + "), or fix the underlay MTU of " + lowHost}});
    }
    if (!v.unknown.empty()) {
      std::string list;
      for (const auto& h : v.unknown) list += (list.empty() ? "" : ", ") + h;
      notices.push_back({{"kind", "mtu-unknown"},
                         {"network", v.networkId},
                         {"message", net + ": MTU unknown on host(s) " + list +
                                         " (an older weft that does not say it); not checked"}});
    }
  }
  return out;
}
}  // namespace

void Api::addAdminRoutes() {
  auto& d = driver_;
  add("/weft.Status", ErrorField::kErr, EmptyBody::kAllowed,
      [this, &d](const std::string&) -> Result<std::string> {
        const auto& c = d.config();
        // What is wrong on this host that weft could not repair (weftctl check).
        Json problems = Json::array();
        for (const auto& w : hostWarnings_) problems.push_back({{"kind", "host"}, {"message", w}});
        for (const auto& [id, why] : d.faults())
          problems.push_back({{"kind", "network"}, {"network", id}, {"message", why}});
        for (const auto& vtep : d.refusedPeers())
          problems.push_back(
              {{"kind", "peers"},
               {"peer", vtep},
               {"message", "host " + vtep + " has an underlay address of the other family than " +
                               "ADVERTISE_ADDR " + c.advertiseAddr +
                               ": weft does not mix IPv4 and IPv6 underlays in one cluster; "
                               "its endpoints are not reachable from here"}});
        if (prober_)
          for (const auto& p : prober_->problems())
            problems.push_back({{"kind", "dataplane"}, {"peer", p.peer}, {"message", p.message}});
        Json notices = Json::array();
        Json mtus = mtuJson(d.networkMtus(), c.advertiseAddr, problems, notices);
        if (vips_)
          for (const auto& n : vips_->view())
            if (!n.error.empty())
              problems.push_back({{"kind", "services"},
                                  {"network", n.networkId},
                                  {"message", "service VIPs cannot follow the engine: " + n.error +
                                                  " (check ENGINE_SOCKET; the VIPs stay as they were)"}});
        // Repaired or recovered by weft, but worth knowing (weftctl check
        // shows them; they do not fail it): kernel drift something else
        // made, sidecar restarts.
        const auto heal = d.selfHealSummary();
        for (const auto& [id, why] : heal.failing)
          problems.push_back(
              {{"kind", "drift"},
               {"network", id},
               {"message", "the sandbox drifted from what weft wants and cannot be repaired: " + why}});
        Json selfHealing = {{"on", heal.on},
                            {"intervalSeconds", heal.interval.count() / 1000.0},
                            {"corrections", heal.corrections},
                            {"removesStrays", heal.removesStrays}};
        if (heal.lastAt) {
          const auto ago = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() -
                                                                            *heal.lastAt);
          selfHealing["last"] = {
              {"what", heal.last}, {"network", heal.lastNetwork}, {"agoSeconds", ago.count()}};
          notices.push_back(
              {{"kind", "drift"},
               {"message", "kernel drift found and repaired " + std::to_string(heal.corrections) +
                               " time(s) since start; the last " + std::to_string(ago.count()) +
                               " s ago in network " + heal.lastNetwork.substr(0, 12) + ": " + heal.last}});
        }
        Json byTable = Json::object();
        for (const auto& [k, n] : d.corrections()) byTable[k.first + "/" + k.second] = n;
        selfHealing["byTableAndAction"] = byTable;
        if (sidecarRestarts_)
          if (uint64_t n = sidecarRestarts_(); n > 0)
            notices.push_back({{"kind", "sidecar"},
                               {"restarts", n},
                               {"message", "weft-gossip was restarted " + std::to_string(n) +
                                               " time(s) since weft-plugin started (it exited or stopped "
                                               "answering)"}});
        Json names = Json::object();
        if (names_) {
          const auto ns = names_->status();
          names = {{"on", ns.on},
                   {"address", services::kDnsAddress},
                   {"answered", ns.answered},
                   {"refused", ns.refused},
                   {"malformed", ns.malformed},
                   {"recordsRefused", ns.recordsRefused},
                   {"tcp",
                    {{"connections", ns.tcpConnections},
                     {"accepted", ns.tcp.accepted},
                     {"refused", ns.tcp.refused},
                     {"idleClosed", ns.tcp.idleClosed},
                     {"badFrames", ns.tcp.badFrames}}}};
          if (!ns.why.empty()) names["why"] = ns.why;
          Json nets = Json::array();
          for (const auto& n : ns.networks) {
            nets.push_back({{"identity", n.identity},
                            {"sandbox", n.netns},
                            {"listening", n.listening},
                            {"localNames", n.localNames},
                            {"remoteNames", n.remoteNames}});
            if (!n.error.empty())
              problems.push_back({{"kind", "names"},
                                  {"network", n.identity},
                                  {"message", "no DNS responder in " + n.netns + ": " + n.error}});
          }
          names["networks"] = nets;
          if (ns.on && !ns.why.empty())
            problems.push_back({{"kind", "names"}, {"message", "names cannot follow the engine: " + ns.why}});
        }
        Json j = {{"version", kVersion},
                  {"names", names},
                  {"scope", c.scope},
                  {"stateDir", c.stateDir},
                  {"advertiseAddr", c.advertiseAddr},
                  {"vxlanPort", c.vxlanPort},
                  {"networks", d.networks().size()},
                  {"endpoints", d.endpointCount()},
                  {"stateWrites", d.stateWrites()},
                  {"discoveredNodes", d.discoveredNodes()},
                  {"swarmAddress", d.swarmAddress()},
                  {"selfHealing", selfHealing},
                  {"networkMtus", mtus},
                  {"problems", problems},
                  {"notices", notices}};
        return j.dump();
      });
  add("/weft.Crypto", ErrorField::kErr, EmptyBody::kAllowed,
      [this](const std::string&) -> Result<std::string> {
        if (!cryptoStatus_) return Json{{"backend", "off"}, {"reason", cryptoOff_}}.dump();
        return cryptoStatus_();
      });
  add("/weft.CryptoRotate", ErrorField::kErr, EmptyBody::kAllowed,
      [this](const std::string&) -> Result<std::string> {
        if (!cryptoRotate_) return Error{ENOTSUP, "encrypted networks are off: " + cryptoOff_};
        return cryptoRotate_();
      });
  add("/weft.Multicast", ErrorField::kErr, EmptyBody::kAllowed,
      [this](const std::string&) -> Result<std::string> {
        if (!multicast_)
          return Json{{"pruning", false}, {"reason", multicastOff_}, {"networks", Json::object()}}.dump();
        return multicast_();
      });
  add("/weft.Networks", ErrorField::kErr, EmptyBody::kAllowed,
      [&d](const std::string&) -> Result<std::string> {
        Json a = Json::array();
        for (const auto& n : d.networks()) {
          Json subs = Json::array();
          for (const auto& s : n.ipv4) subs.push_back(s.pool);
          for (const auto& s : n.ipv6) subs.push_back(s.pool);
          a.push_back({{"id", n.id},
                       {"identity", n.identity},
                       {"vni", n.vni},
                       {"mtu", n.mtu},
                       {"subnets", subs},
                       {"sandbox", n.netns},
                       {"vtep", n.vxlanName},
                       {"endpoints", n.endpoints.size()},
                       {"internal", n.internal},
                       {"gwbridge", n.wantsGwbridge()},
                       {"encrypted", n.encrypted()},
                       {"options", n.options.raw}});
        }
        return Json{{"networks", a}}.dump();
      });
  add("/weft.Ipam", ErrorField::kErr, EmptyBody::kAllowed,
      [&d](const std::string&) -> Result<std::string> { return d.ipamView().dump(); });
  add("/weft.IpamRelease", ErrorField::kErr, EmptyBody::kRefused,
      [&d](const std::string& body) -> Result<std::string> {
        Json j = Json::parse(body, nullptr, false);
        if (!j.is_object() || !j.contains("Host") || !j["Host"].is_string() ||
            j["Host"].get<std::string>().empty() || j["Host"].get<std::string>().size() > 256)
          return Error{EINVAL, "body must be {\"Host\": \"<node id>\"}"};
        auto held = d.releaseHost(j["Host"].get<std::string>());
        if (!held.ok()) return held.error();
        return Json{{"host", j["Host"]}, {"blocks", *held}}.dump();
      });
  add("/weft.Peers", ErrorField::kErr, EmptyBody::kAllowed,
      [this, &d](const std::string&) -> Result<std::string> {
        Json remote = Json::array();
        for (const auto& r : d.remoteEndpoints())
          remote.push_back({{"network", r.network},
                            {"endpoint", r.endpoint},
                            {"ipv4", r.ipv4},
                            {"ipv6", r.ipv6},
                            {"mac", r.mac},
                            {"vtep", r.vtep}});
        Json j = {{"remoteEndpoints", remote}, {"dataPlane", dataPlaneJson(prober_, proberOff_)}};
        if (!clusterStatus_) {
          j["gossip"] = {{"running", false}, {"reason", "multi-host is off: set ADVERTISE_ADDR"}};
        } else {
          auto st = clusterStatus_();
          if (st.ok()) {
            j["gossip"] = Json::parse(*st, nullptr, false);
            j["gossip"]["running"] = true;
          } else {
            j["gossip"] = {{"running", false}, {"reason", st.error().message}};
          }
        }
        return j.dump();
      });
  add("/weft.Services", ErrorField::kErr, EmptyBody::kAllowed,
      [this](const std::string&) -> Result<std::string> {
        Json nets = Json::array();
        if (vips_) {
          for (const auto& n : vips_->view()) {
            Json svcs = Json::array();
            for (const auto& s : n.services) {
              Json backends = Json::array();
              for (const auto& b : s.backends) backends.push_back(b.str());
              svcs.push_back({{"name", s.name}, {"vip", s.vip ? s.vip->str() : ""}, {"backends", backends}});
            }
            nets.push_back({{"network", n.networkId},
                            {"services", svcs},
                            {"containers", n.containers},
                            {"programmed", n.programmed},
                            {"error", n.error}});
          }
        }
        return Json{{"enabled", vips_ != nullptr}, {"networks", nets}}.dump();
      });
  add("/weft.Endpoints", ErrorField::kErr, EmptyBody::kAllowed,
      [&d](const std::string&) -> Result<std::string> {
        Json a = Json::array();
        for (const auto& e : d.endpoints())
          a.push_back({{"id", e.id},
                       {"network", e.networkId},
                       {"address", e.address},
                       {"addressIpv6", e.addressIpv6},
                       {"mac", e.mac},
                       {"joined", e.joined},
                       {"hostInterface", e.hostVeth}});
        return Json{{"endpoints", a}}.dump();
      });
}

}  // namespace weft::plugin
