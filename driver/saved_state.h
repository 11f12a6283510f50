#pragma once
// The text of state.json: what the Driver persists (networks, endpoints,
// address pools, swarm nodes) and how it is read back. One encoder, one
// decoder, no lock and no file (StateStore writes and migrates the file; the
// Driver serializes under its lock).

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "common/result.h"
#include "driver/ipam.h"
#include "driver/model.h"
#include "driver/swarm_nodes.h"

namespace weft::driver {

struct SavedState {
  std::map<std::string, Network> networks;  // each with the ids of its endpoints
  std::map<std::string, Endpoint> endpoints;
  Ipam ipam;
  SwarmNodes swarm;
};

// The current format (kStateFormatVersion).
std::string encodeState(const std::map<std::string, Network>& networks,
                        const std::map<std::string, Endpoint>& endpoints, const Ipam& ipam,
                        const SwarmNodes& swarm);
// j as StateStore loaded (and migrated) it; errors name `path` and say why.
// An endpoint of an unknown network, or anything malformed, is EINVAL.
Result<SavedState> decodeState(const nlohmann::json& j, const std::string& path);

}  // namespace weft::driver
