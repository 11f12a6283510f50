#pragma once
// What the scale bench reads of a weft-plugin's /weft.Peers: remote
// endpoints it holds and the states of the members its sidecar sees.

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/unix_http_client.h"

namespace weft::bench::scale {

using Json = nlohmann::json;

// /weft.Peers, parsed; null on any failure.
inline Json peers(UnixHttpClient& http) {
  auto r = http.post("/weft.Peers", "{}");
  if (!r.ok() || r->status != 200) return Json();
  Json j = Json::parse(r->body, nullptr, false);
  return j.is_discarded() ? Json() : j;
}

inline bool hasRemote(const Json& p, const std::string& endpoint) {
  if (!p.is_object() || !p.contains("remoteEndpoints")) return false;
  for (const auto& e : p["remoteEndpoints"])
    if (e.value("endpoint", "") == endpoint) return true;
  return false;
}

// Member id -> state ("alive", "suspect", "dead", ...); a node lists the
// others, not itself.
inline std::map<std::string, std::string> memberStates(const Json& p) {
  std::map<std::string, std::string> out;
  if (!p.is_object() || !p.contains("gossip") || !p["gossip"].contains("members")) return out;
  for (const auto& m : p["gossip"]["members"]) out[m.value("id", "")] = m.value("state", "");
  return out;
}

}  // namespace weft::bench::scale
