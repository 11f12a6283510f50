#include "engine/engine_client.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/json_depth.h"

namespace weft::engine {

using Json = nlohmann::json;

namespace {

// Docker object ids as they appear in paths: [0-9a-zA-Z], 1..128 (swarm
// network ids are 25 characters, container ids 64 hex).
bool validId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isalnum(c); });
}

Result<Json> parseBounded(const std::string& what, const std::string& body) {
  if (body.size() > kMaxResponseBytes) return Error{EMSGSIZE, what + ": answer larger than 16 MiB"};
  if (jsonDepth(body, kMaxJsonDepth) > kMaxJsonDepth)
    return Error{EPROTO, what + ": answer nested too deeply"};
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error{EPROTO, what + ": answer is not a JSON object"};
  return j;
}

// "10.0.0.3" or "10.0.0.3/24" (the engine writes both spellings).
std::optional<IpAddr> parseIp(const Json& v) {
  if (!v.is_string()) return std::nullopt;
  std::string s = v.get<std::string>();
  if (auto slash = s.find('/'); slash != std::string::npos) s.resize(slash);
  return IpAddr::parse(s);
}

}  // namespace

Result<NetworkView> parseNetworkView(const std::string& body) {
  auto parsed = parseBounded("network inspect", body);
  if (!parsed) return parsed.error();
  const Json& j = *parsed;
  NetworkView v;
  if (auto it = j.find("Containers"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return Error{EPROTO, "network inspect: Containers is not an object"};
    for (const auto& [cid, c] : it->items()) {
      if (!c.is_object())
        return Error{EPROTO, "network inspect: container " + cid.substr(0, 12) + " is not an object"};
      auto ep = c.find("EndpointID");
      if (ep == c.end() || !ep->is_string()) continue;
      // The engine lists its own load-balancer endpoints ("lb-<net>") too.
      if (!validId(cid) || !validId(ep->get<std::string>())) continue;
      v.containers[ep->get<std::string>()] = cid;
    }
  }
  auto sit = j.find("Services");
  if (sit == j.end() || sit->is_null()) return v;  // not a swarm network, or no services
  if (!sit->is_object()) return Error{EPROTO, "network inspect: Services is not an object"};
  if (sit->size() > kMaxServices)
    return Error{EMSGSIZE, "network inspect: " + std::to_string(sit->size()) + " services (the most is " +
                               std::to_string(kMaxServices) + ")"};
  for (const auto& [name, s] : sit->items()) {
    if (!s.is_object()) return Error{EPROTO, "network inspect: service " + name + " is not an object"};
    Service svc;
    svc.name = name;
    // A dnsrr service's VIP: "" or, as dockerd spells a nil address, "<nil>".
    if (auto vip = s.find("VIP"); vip != s.end() && !vip->is_null() && *vip != "" && *vip != "<nil>") {
      auto a = parseIp(*vip);
      if (!a) return Error{EPROTO, "network inspect: service " + name + " has a malformed VIP"};
      svc.vip = *a;
    }
    if (auto tasks = s.find("Tasks"); tasks != s.end() && !tasks->is_null()) {
      if (!tasks->is_array())
        return Error{EPROTO, "network inspect: service " + name + ": Tasks is not a list"};
      if (tasks->size() > kMaxTasksPerService)
        return Error{EMSGSIZE, "network inspect: service " + name + " has " + std::to_string(tasks->size()) +
                                   " tasks (the most is " + std::to_string(kMaxTasksPerService) + ")"};
      for (const auto& t : *tasks) {
        if (!t.is_object())
          return Error{EPROTO, "network inspect: service " + name + ": a task is not an object"};
        auto ip = t.find("EndpointIP");
        if (ip == t.end()) continue;
        auto a = parseIp(*ip);
        if (!a)
          return Error{EPROTO, "network inspect: service " + name + ": a task has a malformed EndpointIP"};
        svc.backends.push_back(*a);
      }
    }
    std::sort(svc.backends.begin(), svc.backends.end());
    svc.backends.erase(std::unique(svc.backends.begin(), svc.backends.end()), svc.backends.end());
    v.services.push_back(std::move(svc));
  }
  return v;
}

Result<std::string> parseSandboxKey(const std::string& body) {
  auto parsed = parseBounded("container inspect", body);
  if (!parsed) return parsed.error();
  const Json& j = *parsed;
  auto ns = j.find("NetworkSettings");
  if (ns == j.end() || !ns->is_object()) return Error{EPROTO, "container inspect: no NetworkSettings"};
  auto key = ns->find("SandboxKey");
  if (key == ns->end() || !key->is_string() || key->get<std::string>().empty())
    return Error{ENOENT, "container inspect: the container has no network namespace (not running)"};
  return key->get<std::string>();
}

Result<ContainerNames> parseContainerNames(const std::string& body) {
  auto parsed = parseBounded("container inspect", body);
  if (!parsed) return parsed.error();
  const Json& j = *parsed;
  ContainerNames out;
  auto str = [](const Json& o, const char* key) -> std::string {
    auto it = o.find(key);
    if (it == o.end() || !it->is_string()) return {};
    std::string s = it->get<std::string>();
    return s.size() <= kMaxEngineName ? s : std::string();
  };
  out.name = str(j, "Name");
  if (!out.name.empty() && out.name.front() == '/') out.name.erase(0, 1);
  if (auto cfg = j.find("Config"); cfg != j.end() && cfg->is_object())
    if (auto labels = cfg->find("Labels"); labels != cfg->end() && labels->is_object())
      out.service = str(*labels, "com.docker.compose.service");
  auto ns = j.find("NetworkSettings");
  if (ns == j.end() || !ns->is_object()) return Error{EPROTO, "container inspect: no NetworkSettings"};
  auto nets = ns->find("Networks");
  if (nets == ns->end() || nets->is_null()) return out;
  if (!nets->is_object()) return Error{EPROTO, "container inspect: Networks is not an object"};
  if (nets->size() > kMaxEndpointsPerContainer)
    return Error{EMSGSIZE, "container inspect: " + std::to_string(nets->size()) + " networks"};
  for (const auto& [netName, ep] : nets->items()) {
    if (!ep.is_object())
      return Error{EPROTO, "container inspect: network " + netName.substr(0, 64) + " is not an object"};
    std::string eid = str(ep, "EndpointID");
    if (!validId(eid)) continue;  // not connected (yet)
    auto& list = out.aliases[eid];
    for (const char* key : {"Aliases", "DNSNames"}) {
      auto a = ep.find(key);
      if (a == ep.end() || !a->is_array()) continue;
      for (const auto& v : *a) {
        if (list.size() >= kMaxAliases) break;
        if (v.is_string() && v.get<std::string>().size() <= kMaxEngineName)
          list.push_back(v.get<std::string>());
      }
    }
  }
  return out;
}

EngineClient::EngineClient(std::string socketPath, int timeoutMs)
    : path_(std::move(socketPath)), http_(path_, timeoutMs, kMaxResponseBytes) {}

Result<std::string> EngineClient::getJson(const std::string& what, const std::string& path) {
  std::lock_guard<std::mutex> lk(mu_);
  auto r = http_.get(path);
  if (!r) return Error{r.error().code, "engine at " + path_ + ": " + what + ": " + r.error().message};
  if (r->status == 404) return Error{ENOENT, "engine at " + path_ + ": " + what + ": not found"};
  if (r->status != 200)
    return Error{EIO, "engine at " + path_ + ": " + what + ": HTTP " + std::to_string(r->status)};
  return std::move(r->body);
}

Result<NetworkView> EngineClient::network(const std::string& networkId) {
  if (!validId(networkId)) return Error{EINVAL, "network id \"" + networkId + "\" is malformed"};
  auto body = getJson("network " + networkId.substr(0, 12), "/networks/" + networkId + "?verbose=true");
  if (!body) return body.error();
  return parseNetworkView(*body);
}

Result<std::string> EngineClient::sandboxKey(const std::string& containerId) {
  if (!validId(containerId)) return Error{EINVAL, "container id \"" + containerId + "\" is malformed"};
  auto body = getJson("container " + containerId.substr(0, 12), "/containers/" + containerId + "/json");
  if (!body) return body.error();
  return parseSandboxKey(*body);
}

}  // namespace weft::engine

namespace weft::engine {

Result<ContainerNames> EngineClient::containerNames(const std::string& containerId) {
  if (!validId(containerId)) return Error{EINVAL, "container id \"" + containerId + "\" is malformed"};
  auto body = getJson("container " + containerId.substr(0, 12), "/containers/" + containerId + "/json");
  if (!body) return body.error();
  return parseContainerNames(*body);
}

}  // namespace weft::engine
