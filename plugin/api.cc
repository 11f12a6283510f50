#include "plugin/api.h"

#include <chrono>
#include <optional>

#include "common/log.h"
#include "metrics/metrics.h"
#include "plugin/decode.h"

namespace weft::plugin {

namespace {

const std::string kEmpty = "{}";

#define TRY_ASSIGN(var, expr)                \
  auto var##_r = (expr);                     \
  if (!var##_r.ok()) return var##_r.error(); \
  auto var = std::move(*var##_r)

#define TRY_STATUS(expr)          \
  do {                            \
    auto st_ = (expr);            \
    if (!st_) return st_.error(); \
  } while (0)

}  // namespace

Api::Api(driver::Driver& driver) : driver_(driver) {
  add("/Plugin.Activate", ErrorField::kErr, EmptyBody::kAllowed,
      [](const std::string&) -> Result<std::string> {
        return std::string(R"({"Implements":["NetworkDriver","IpamDriver"]})");
      });
  addNetworkRoutes();
  addIpamRoutes();
  addAdminRoutes();
}

void Api::add(const std::string& path, ErrorField errorField, EmptyBody emptyBody,
              std::function<Result<std::string>(const std::string&)> fn) {
  routes_.emplace(path, Route{errorField, emptyBody, std::move(fn)});
}

std::string Api::errorBody(const std::string& path, const std::string& message) {
  bool ipam = path.rfind("/IpamDriver.", 0) == 0;
  return Json{{ipam ? "Error" : "Err", message}}.dump();
}

std::vector<std::string> Api::calls() const {
  std::vector<std::string> out;
  for (const auto& [path, r] : routes_) out.push_back(path.substr(1));
  return out;
}

namespace {
// With LOG_FORMAT=json, the lines a call logs name the network and endpoint
// it is about (log::Context); the body is parsed once more for that, and
// only then. Docker's IDs are at most 128 characters: longer is cut.
std::optional<log::Context> requestContext(const std::string& body) {
  if (log::format() != log::Format::kJson || body.size() > kMaxBodyBytes) return std::nullopt;
  auto j = parseBody(body, EmptyBody::kAllowed);
  if (!j.ok()) return std::nullopt;
  auto field = [&j](const char* key) {
    auto v = getString(*j, key, Need::kOptional);
    return v.ok() ? v->substr(0, 128) : std::string();
  };
  return std::optional<log::Context>(std::in_place, field("NetworkID"), field("EndpointID"));
}
}  // namespace

ApiReply Api::handle(const std::string& path, const std::string& body) {
  auto context = requestContext(body);
  if (!metrics_) return dispatch(path, body);
  auto start = std::chrono::steady_clock::now();
  ApiReply reply = dispatch(path, body);
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  // Paths weft does not serve count as "other" (metrics::Metrics): a client
  // cannot make up label values.
  metrics_->observeRequest(path.empty() ? path : path.substr(1), reply.ok, took.count());
  return reply;
}

ApiReply Api::dispatch(const std::string& path, const std::string& body) {
  auto it = routes_.find(path);
  if (it == routes_.end())
    return {404, errorBody(path, "weft does not implement " + (path.empty() ? std::string("/") : path)),
            false};
  const Route& r = it->second;
  if (body.size() > kMaxBodyBytes) return {413, errorBody(path, "request body is larger than 1 MiB"), false};
  if (r.emptyBody == EmptyBody::kAllowed) {
    auto j = parseBody(body, EmptyBody::kAllowed);
    if (!j.ok()) return {200, Json{{errorKey(r.errorField), j.error().message}}.dump(), false};
  }
  Result<std::string> out = Error{EINVAL, "internal error"};
  try {
    out = r.fn(body);
  } catch (const std::exception& e) {
    // Only a programming error gets here; the daemon stays up.
    LOG_ERROR("api", path << ": unexpected exception: " << e.what());
    return {500, errorBody(path, std::string("internal error: ") + e.what()), false};
  }
  if (out.ok()) return {200, std::move(*out)};
  LOG_WARN("api", path << ": " << out.error().message);
  return {200, Json{{errorKey(r.errorField), out.error().message}}.dump(), false};
}

void Api::addNetworkRoutes() {
  auto& d = driver_;
  add("/NetworkDriver.GetCapabilities", ErrorField::kErr, EmptyBody::kAllowed,
      [&d](const std::string&) -> Result<std::string> {
        return Json{{"Scope", d.config().scope}, {"ConnectivityScope", d.config().scope}}.dump();
      });

  add("/NetworkDriver.CreateNetwork", ErrorField::kErr, EmptyBody::kRefused,
      [&d](const std::string& b) -> Result<std::string> {
        TRY_ASSIGN(j, parseBody(b, EmptyBody::kRefused));
        driver::CreateNetworkRequest r;
        TRY_ASSIGN(nid, getString(j, "NetworkID", Need::kRequired));
        TRY_ASSIGN(opts, getObject(j, "Options", Need::kOptional));
        TRY_ASSIGN(generic, getStringMap(opts, "com.docker.network.generic", Need::kOptional));
        TRY_ASSIGN(v6, getBool(opts, "com.docker.network.enable_ipv6", Need::kOptional));
        TRY_ASSIGN(internal, getBool(opts, "com.docker.network.internal", Need::kOptional));
        TRY_ASSIGN(ipv4, getIpamData(j, "IPv4Data"));
        TRY_ASSIGN(ipv6, getIpamData(j, "IPv6Data"));
        r.networkId = nid;
        r.generic = generic;
        r.enableIpv6 = v6;
        r.internal = internal;
        r.ipv4 = ipv4;
        r.ipv6 = ipv6;
        TRY_STATUS(d.createNetwork(r));
        return kEmpty;
      });

  add("/NetworkDriver.AllocateNetwork", ErrorField::kErr, EmptyBody::kRefused,
      [&d](const std::string& b) -> Result<std::string> {
        TRY_ASSIGN(j, parseBody(b, EmptyBody::kRefused));
        driver::AllocateNetworkRequest r;
        TRY_ASSIGN(nid, getString(j, "NetworkID", Need::kRequired));
        TRY_ASSIGN(opts, getStringMap(j, "Options", Need::kOptional));
        TRY_ASSIGN(ipv4, getIpamData(j, "IPv4Data"));
        TRY_ASSIGN(ipv6, getIpamData(j, "IPv6Data"));
        r.networkId = nid;
        r.options = opts;
        r.ipv4 = ipv4;
        r.ipv6 = ipv6;
        TRY_ASSIGN(out, d.allocateNetwork(r));
        return Json{{"Options", out}}.dump();
      });

  add("/NetworkDriver.FreeNetwork", ErrorField::kErr, EmptyBody::kRefused,
      [&d](const std::string& b) -> Result<std::string> {
        TRY_ASSIGN(j, parseBody(b, EmptyBody::kRefused));
        TRY_ASSIGN(nid, getString(j, "NetworkID", Need::kRequired));
        TRY_STATUS(d.freeNetwork(nid));
        return kEmpty;
      });

  add("/NetworkDriver.DeleteNetwork", ErrorField::kErr, EmptyBody::kRefused,
      [&d](const std::string& b) -> Result<std::string> {
        TRY_ASSIGN(j, parseBody(b, EmptyBody::kRefused));
        TRY_ASSIGN(nid, getString(j, "NetworkID", Need::kRequired));
        TRY_STATUS(d.deleteNetwork(nid));
        return kEmpty;
      });

  add("/NetworkDriver.CreateEndpoint", ErrorField::kErr, EmptyBody::kRefused,
      [&d](const std::string& b) -> Result<std::string> {
        TRY_ASSIGN(j, parseBody(b, EmptyBody::kRefused));
        driver::CreateEndpointRequest r;
        TRY_ASSIGN(nid, getString(j, "NetworkID", Need::kRequired));
        TRY_ASSIGN(eid, getString(j, "EndpointID", Need::kRequired));
        TRY_ASSIGN(iface, getObject(j, "Interface", Need::kOptional));
        TRY_ASSIGN(addr, getString(iface, "Address", Need::kOptional));
        TRY_ASSIGN(addr6, getString(iface, "AddressIPv6", Need::kOptional));
        TRY_ASSIGN(mac, getString(iface, "MacAddress", Need::kOptional));
        TRY_ASSIGN(opts, getObject(j, "Options", Need::kOptional));
        (void)opts;
        r.networkId = nid;
        r.endpointId = eid;
        r.iface = {addr, addr6, mac};
        TRY_ASSIGN(res, d.createEndpoint(r));
        if (!res.macAddress) return kEmpty;
        return Json{{"Interface", {{"MacAddress", *res.macAddress}}}}.dump();
      });

  add("/NetworkDriver.EndpointOperInfo", ErrorField::kErr, EmptyBody::kRefused,
      [&d](const std::string& b) -> Result<std::string> {
        TRY_ASSIGN(j, parseBody(b, EmptyBody::kRefused));
        TRY_ASSIGN(nid, getString(j, "NetworkID", Need::kRequired));
        TRY_ASSIGN(eid, getString(j, "EndpointID", Need::kRequired));
        TRY_ASSIGN(info, d.endpointInfo(nid, eid));
        Json v = {{"weft.vni", info.vni},
                  {"weft.mac", info.mac},
                  {"weft.joined", info.joined},
                  {"weft.host_interface", info.hostVeth}};
        if (!info.address.empty()) v["weft.address"] = info.address;
        if (!info.addressIpv6.empty()) v["weft.address_ipv6"] = info.addressIpv6;
        return Json{{"Value", v}}.dump();
      });

  add("/NetworkDriver.DeleteEndpoint", ErrorField::kErr, EmptyBody::kRefused,
      [&d](const std::string& b) -> Result<std::string> {
        TRY_ASSIGN(j, parseBody(b, EmptyBody::kRefused));
        TRY_ASSIGN(nid, getString(j, "NetworkID", Need::kRequired));
        TRY_ASSIGN(eid, getString(j, "EndpointID", Need::kRequired));
        TRY_STATUS(d.deleteEndpoint(nid, eid));
        return kEmpty;
      });

  add("/NetworkDriver.Join", ErrorField::kErr, EmptyBody::kRefused,
      [this, &d](const std::string& b) -> Result<std::string> {
        TRY_ASSIGN(j, parseBody(b, EmptyBody::kRefused));
        TRY_ASSIGN(nid, getString(j, "NetworkID", Need::kRequired));
        TRY_ASSIGN(eid, getString(j, "EndpointID", Need::kRequired));
        TRY_ASSIGN(key, getString(j, "SandboxKey", Need::kOptional));
        TRY_ASSIGN(opts, getObject(j, "Options", Need::kOptional));
        (void)opts;
        TRY_ASSIGN(res, d.join(nid, eid, key));
        if (vips_ && !key.empty()) {
          // The container is joined whatever happens to its VIPs; a SandboxKey
          // weft cannot use only means no VIPs in it (said in the log).
          if (auto st = vips_->joined(nid, eid, key); !st)
            LOG_WARN("vips", "endpoint " << eid.substr(0, 12) << ": no service VIPs: " << st.error().message);
        }
        Json reply = {{"InterfaceName", {{"SrcName", res.srcName}, {"DstPrefix", res.dstPrefix}}},
                      {"DisableGatewayService", res.disableGatewayService}};
        // Names across hosts: the container's route to the responder in the
        // network's sandbox, via the network's gateway (br0 there).
        if (names_ && names_->on() && names_->joined(eid, key))
          for (const auto& n : d.networks())
            if (n.id == nid && !n.ipv4.empty() && !n.ipv4.front().gateway.empty()) {
              auto gw = Prefix::parseHostOrPrefix(n.ipv4.front().gateway);
              if (gw)
                reply["StaticRoutes"] =
                    Json::array({{{"Destination", std::string(services::kDnsAddress) + "/32"},
                                  {"RouteType", 0},
                                  {"NextHop", gw->addr.str()}}});
            }
        return reply.dump();
      });

  add("/NetworkDriver.Leave", ErrorField::kErr, EmptyBody::kRefused,
      [this, &d](const std::string& b) -> Result<std::string> {
        TRY_ASSIGN(j, parseBody(b, EmptyBody::kRefused));
        TRY_ASSIGN(nid, getString(j, "NetworkID", Need::kRequired));
        TRY_ASSIGN(eid, getString(j, "EndpointID", Need::kRequired));
        TRY_STATUS(d.leave(nid, eid));
        if (vips_) vips_->left(eid);
        if (names_) names_->left(eid);
        return kEmpty;
      });

  using driver::Driver;
  auto discovery = [&d](Driver::Discovery what) {
    return [&d, what](const std::string& b) -> Result<std::string> {
      TRY_ASSIGN(j, parseBody(b, EmptyBody::kRefused));
      TRY_ASSIGN(type, getInt(j, "DiscoveryType", Need::kRequired));
      if (type != 1) return kEmpty;  // only node discovery reaches remote drivers
      TRY_ASSIGN(data, getObject(j, "DiscoveryData", Need::kRequired));
      TRY_ASSIGN(addr, getString(data, "Address", Need::kRequired));
      TRY_ASSIGN(self, getBool(data, "Self", Need::kOptional));
      TRY_STATUS(
          d.discover(addr, self ? Driver::DiscoveredNode::kSelf : Driver::DiscoveredNode::kOther, what));
      return kEmpty;
    };
  };
  add("/NetworkDriver.DiscoverNew", ErrorField::kErr, EmptyBody::kRefused,
      discovery(Driver::Discovery::kNew));
  add("/NetworkDriver.DiscoverDelete", ErrorField::kErr, EmptyBody::kRefused,
      discovery(Driver::Discovery::kDeleted));

  add("/NetworkDriver.ProgramExternalConnectivity", ErrorField::kErr, EmptyBody::kRefused,
      [&d](const std::string& b) -> Result<std::string> {
        TRY_ASSIGN(j, parseBody(b, EmptyBody::kRefused));
        TRY_ASSIGN(nid, getString(j, "NetworkID", Need::kRequired));
        TRY_ASSIGN(eid, getString(j, "EndpointID", Need::kRequired));
        TRY_ASSIGN(opts, getObject(j, "Options", Need::kOptional));
        (void)opts;
        // Outside access goes through docker_gwbridge, which Docker manages.
        TRY_STATUS(d.checkEndpoint(nid, eid));
        return kEmpty;
      });
  add("/NetworkDriver.RevokeExternalConnectivity", ErrorField::kErr, EmptyBody::kRefused,
      [](const std::string& b) -> Result<std::string> {
        TRY_ASSIGN(j, parseBody(b, EmptyBody::kRefused));
        TRY_ASSIGN(nid, getString(j, "NetworkID", Need::kRequired));
        TRY_ASSIGN(eid, getString(j, "EndpointID", Need::kRequired));
        TRY_STATUS(driver::checkObjectId("NetworkID", nid));
        TRY_STATUS(driver::checkObjectId("EndpointID", eid));
        return kEmpty;  // nothing to revoke; repeated or late calls are fine
      });
}

void Api::addIpamRoutes() {
  auto& d = driver_;
  add("/IpamDriver.GetCapabilities", ErrorField::kError, EmptyBody::kAllowed,
      [](const std::string&) -> Result<std::string> {
        return std::string(R"({"RequiresMACAddress":false,"RequiresRequestReplay":false})");
      });
  add("/IpamDriver.GetDefaultAddressSpaces", ErrorField::kError, EmptyBody::kAllowed,
      [](const std::string&) -> Result<std::string> {
        return Json{{"LocalDefaultAddressSpace", driver::kLocalAddressSpace},
                    {"GlobalDefaultAddressSpace", driver::kGlobalAddressSpace}}
            .dump();
      });
  add("/IpamDriver.RequestPool", ErrorField::kError, EmptyBody::kRefused,
      [&d](const std::string& b) -> Result<std::string> {
        TRY_ASSIGN(j, parseBody(b, EmptyBody::kRefused));
        TRY_ASSIGN(space, getString(j, "AddressSpace", Need::kOptional));
        TRY_ASSIGN(pool, getString(j, "Pool", Need::kOptional));
        TRY_ASSIGN(sub, getString(j, "SubPool", Need::kOptional));
        TRY_ASSIGN(opts, getStringMap(j, "Options", Need::kOptional));
        TRY_ASSIGN(v6, getBool(j, "V6", Need::kOptional));
        TRY_ASSIGN(g, d.requestPool(space, pool, sub, opts, v6));
        return Json{{"PoolID", g.poolId}, {"Pool", g.pool}, {"Data", g.data}}.dump();
      });
  add("/IpamDriver.ReleasePool", ErrorField::kError, EmptyBody::kRefused,
      [&d](const std::string& b) -> Result<std::string> {
        TRY_ASSIGN(j, parseBody(b, EmptyBody::kRefused));
        TRY_ASSIGN(id, getString(j, "PoolID", Need::kRequired));
        TRY_STATUS(d.releasePool(id));
        return kEmpty;
      });
  add("/IpamDriver.RequestAddress", ErrorField::kError, EmptyBody::kRefused,
      [&d](const std::string& b) -> Result<std::string> {
        TRY_ASSIGN(j, parseBody(b, EmptyBody::kRefused));
        TRY_ASSIGN(id, getString(j, "PoolID", Need::kRequired));
        TRY_ASSIGN(addr, getString(j, "Address", Need::kOptional));
        TRY_ASSIGN(opts, getStringMap(j, "Options", Need::kOptional));
        TRY_ASSIGN(got, d.requestAddress(id, addr, opts));
        return Json{{"Address", got}, {"Data", Json::object()}}.dump();
      });
  add("/IpamDriver.ReleaseAddress", ErrorField::kError, EmptyBody::kRefused,
      [&d](const std::string& b) -> Result<std::string> {
        TRY_ASSIGN(j, parseBody(b, EmptyBody::kRefused));
        TRY_ASSIGN(id, getString(j, "PoolID", Need::kRequired));
        TRY_ASSIGN(addr, getString(j, "Address", Need::kRequired));
        TRY_STATUS(d.releaseAddress(id, addr));
        return kEmpty;
      });
}

}  // namespace weft::plugin
