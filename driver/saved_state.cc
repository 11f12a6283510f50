#include "driver/saved_state.h"

#include <cerrno>
#include <nlohmann/json.hpp>

#include "driver/state_store.h"

namespace weft::driver {

std::string encodeState(const std::map<std::string, Network>& networks,
                        const std::map<std::string, Endpoint>& endpoints, const Ipam& ipam,
                        const SwarmNodes& swarm) {
  nlohmann::json nets = nlohmann::json::array();
  for (const auto& [id, n] : networks) nets.push_back(toJson(n));
  nlohmann::json eps = nlohmann::json::array();
  for (const auto& [id, e] : endpoints) eps.push_back(toJson(e));
  nlohmann::json j = {
      {"format", "weft-state"},      {"version", kStateFormatVersion},
      {"networks", std::move(nets)}, {"endpoints", std::move(eps)},
      {"ipam", ipam.toJson()},       {"discovered", {{"self", swarm.self()}, {"nodes", swarm.others()}}}};
  return j.dump();
}

Result<SavedState> decodeState(const nlohmann::json& j, const std::string& path) {
  SavedState s;
  try {
    if (j.value("format", "") != "weft-state")
      return Error{EINVAL, "state file " + path + " is not a weft state file"};
    for (const auto& nj : j.at("networks")) {
      auto n = networkFromJson(nj);
      if (!n.ok()) return Error{EINVAL, "state file " + path + ": " + n.error().message};
      s.networks.emplace(n->id, std::move(*n));
    }
    for (const auto& ej : j.at("endpoints")) {
      auto e = endpointFromJson(ej);
      if (!e.ok()) return Error{EINVAL, "state file " + path + ": " + e.error().message};
      auto nit = s.networks.find(e->networkId);
      if (nit == s.networks.end())
        return Error{EINVAL, "state file " + path + ": endpoint " + e->id + " belongs to unknown network " +
                                 e->networkId};
      nit->second.endpoints.insert(e->id);
      s.endpoints.emplace(e->id, std::move(*e));
    }
    auto ipam = Ipam::fromJson(j.at("ipam"));
    if (!ipam.ok()) return Error{EINVAL, "state file " + path + ": " + ipam.error().message};
    s.ipam = std::move(*ipam);
    s.swarm = SwarmNodes(j.at("discovered").at("nodes").get<std::set<std::string>>(),
                         j.at("discovered").at("self").get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    return Error{EINVAL, "state file " + path + " is corrupt: " + e.what() + "; weft will not overwrite it"};
  }
  return s;
}

}  // namespace weft::driver
