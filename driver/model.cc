#include "driver/model.h"

#include <cerrno>
#include <nlohmann/json.hpp>

namespace weft::driver {

namespace {
nlohmann::json subnets(const std::vector<Subnet>& v) {
  auto a = nlohmann::json::array();
  for (const auto& s : v) a.push_back({{"pool", s.pool}, {"gateway", s.gateway}});
  return a;
}
std::vector<Subnet> subnetsFrom(const nlohmann::json& a) {
  std::vector<Subnet> v;
  for (const auto& s : a) v.push_back({s.at("pool").get<std::string>(), s.at("gateway").get<std::string>()});
  return v;
}
}  // namespace

nlohmann::json toJson(const Network& n) {
  return {{"id", n.id},
          {"options", n.options.raw},
          {"ipv4", subnets(n.ipv4)},
          {"ipv6", subnets(n.ipv6)},
          {"internal", n.internal},
          {"enableIpv6", n.enableIpv6},
          {"identity", n.identity},
          {"vni", n.vni},
          {"mtu", n.mtu},
          {"netns", n.netns},
          {"vxlanName", n.vxlanName}};
}

nlohmann::json toJson(const Endpoint& e) {
  return {{"id", e.id},
          {"networkId", e.networkId},
          {"address", e.address},
          {"addressIpv6", e.addressIpv6},
          {"mac", e.mac},
          {"macChosenByWeft", e.macChosenByWeft},
          {"hostVeth", e.hostVeth},
          {"sandboxVeth", e.sandboxVeth}};
}

Result<Network> networkFromJson(const nlohmann::json& j) {
  try {
    Network n;
    n.id = j.at("id").get<std::string>();
    auto opts = parseNetworkOptions(j.at("options").get<std::map<std::string, std::string>>());
    if (!opts.ok()) return Error{EINVAL, "network " + n.id + ": " + opts.error().message};
    n.options = *opts;
    n.ipv4 = subnetsFrom(j.at("ipv4"));
    n.ipv6 = subnetsFrom(j.at("ipv6"));
    n.internal = j.at("internal").get<bool>();
    n.enableIpv6 = j.at("enableIpv6").get<bool>();
    n.identity = j.at("identity").get<std::string>();
    n.vni = j.at("vni").get<uint32_t>();
    n.mtu = j.at("mtu").get<uint32_t>();
    n.netns = j.at("netns").get<std::string>();
    n.vxlanName = j.at("vxlanName").get<std::string>();
    return n;
  } catch (const nlohmann::json::exception& e) {
    return Error{EINVAL, std::string("network record: ") + e.what()};
  }
}

Result<Endpoint> endpointFromJson(const nlohmann::json& j) {
  try {
    Endpoint e;
    e.id = j.at("id").get<std::string>();
    e.networkId = j.at("networkId").get<std::string>();
    e.address = j.at("address").get<std::string>();
    e.addressIpv6 = j.at("addressIpv6").get<std::string>();
    e.mac = j.at("mac").get<std::string>();
    e.macChosenByWeft = j.at("macChosenByWeft").get<bool>();
    e.hostVeth = j.at("hostVeth").get<std::string>();
    e.sandboxVeth = j.at("sandboxVeth").get<std::string>();
    return e;
  } catch (const nlohmann::json::exception& ex) {
    return Error{EINVAL, std::string("endpoint record: ") + ex.what()};
  }
}

}  // namespace weft::driver
