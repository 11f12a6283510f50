#include "weftctl/check.h"

#include <set>
#include <sstream>

namespace weft::weftctl {

using Json = nlohmann::json;

namespace {

std::string str(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

Json problem(const char* kind, const std::string& message) { return {{"kind", kind}, {"message", message}}; }

// "ip:port" or "[ipv6]:port" -> the address.
std::string hostOf(const std::string& hostPort) {
  if (!hostPort.empty() && hostPort[0] == '[') return hostPort.substr(1, hostPort.find(']') - 1);
  return hostPort.substr(0, hostPort.rfind(':'));
}

// Gossip this host cannot authenticate: the sidecar's per-host failures
// (kept 10 min after the last one), the peers that refused this host's
// streams, and its own verdict when it authenticates with nobody. A host
// that is an alive member authenticates now (its failures are from before
// its key was fixed, or forgeries under its address): not a problem.
void keyProblems(const Json& g, Json& out) {
  std::set<std::string> alive;
  for (const auto& m : g.value("members", Json::array()))
    if (m.value("state", "") == "alive") alive.insert(m.value("id", ""));
  if (g.contains("authFailuresByHost") && g["authFailuresByHost"].is_object())
    for (auto it = g["authFailuresByHost"].begin(); it != g["authFailuresByHost"].end(); ++it) {
      if (alive.count(it.key())) continue;
      Json p = problem("key", "host " + it.key() + " sends gossip this host cannot authenticate (" +
                                  str(it.value()) +
                                  " packet(s) or connection(s) in the last 10 min): it has a different "
                                  "cluster KEY (or something forges its address)");
      p["peer"] = it.key();
      out.push_back(std::move(p));
    }
  if (g.contains("refusedBy") && g["refusedBy"].is_object())
    for (auto it = g["refusedBy"].begin(); it != g["refusedBy"].end(); ++it) {
      if (alive.count(hostOf(it.key()))) continue;
      Json p = problem("key", "host " + it.key() + " refused this host's gossip connections " +
                                  str(it.value()) + " time(s): it has a different cluster KEY");
      p["peer"] = it.key();
      out.push_back(std::move(p));
    }
  const std::string why = g.value("authProblem", "");
  if (!why.empty()) out.push_back(problem("key", why));
}

// Members the failure detector suspects or declared dead ("left" is a host
// that said goodbye: not a problem).
void gossipProblems(const Json& g, Json& out) {
  for (const auto& m : g.value("members", Json::array())) {
    const std::string id = m.value("id", ""), state = m.value("state", "");
    if (id == g.value("id", "") || (state != "suspect" && state != "dead")) continue;
    Json p = problem("gossip", "gossip does not reach host " + id + " (member " + state + ")");
    p["peer"] = id;
    out.push_back(std::move(p));
  }
}

// In a swarm, Docker tells weft every other node (DiscoverNew); each should
// run weft and so be a gossip member under its address.
void swarmProblems(const Json& status, const Json& g, Json& out) {
  if (status.value("swarmAddress", "").empty() || !status.contains("discoveredNodes")) return;
  std::set<std::string> members;
  for (const auto& m : g.value("members", Json::array())) members.insert(m.value("id", ""));
  for (const auto& n : status["discoveredNodes"]) {
    if (!n.is_string() || members.count(n.get<std::string>())) continue;
    Json p = problem("swarm", "swarm node " + n.get<std::string>() +
                                  " is not in weft's gossip: weft is not running there (or runs with another "
                                  "ADVERTISE_ADDR or cluster KEY); its containers cannot use weft networks");
    p["peer"] = n;
    out.push_back(std::move(p));
  }
}

// Blocks of a cluster-wide pool that another host hands out too.
void ipamProblems(const Json& ipam, Json& out) {
  if (!ipam.is_object() || !ipam.value("enabled", false)) return;
  for (const auto& pool : ipam.value("pools", Json::array()))
    for (const auto& c : pool.value("conflicts", Json::array())) {
      Json p = problem("ipam", "pool " + pool.value("pool", "") + ": block " + c.value("block", "") +
                                   " is also handed out by host " + c.value("other", "") +
                                   (c.value("weWin", false) ? " (this host keeps it)"
                                                            : " (this host hands out no more from it)"));
      p["pool"] = pool.value("pool", "");
      p["block"] = c.value("block", "");
      p["peer"] = c.value("other", "");
      out.push_back(std::move(p));
    }
}

// What to do, under each problem's line.
const char* advice(const std::string& kind) {
  if (kind == "network")
    return "weft serves the host's other networks and retries this one (every 2 s, backing off to 60 s); "
           "Docker calls on it fail with this reason. If it does not recover, remove the network (docker "
           "network rm) and create it again.";
  if (kind == "drift")
    return "weft tries again every RECONCILE_INTERVAL; the plugin's log (component reconcile) has each "
           "attempt";
  if (kind == "dataplane")
    return "(found by weft's VXLAN probes; `weftctl peers` shows each peer host's data path)";
  if (kind == "key")
    return "every host of a cluster needs the same key (WEFT_KEY or --key-file / WEFT_KEY_FILE): `weftctl "
           "peers` prints this host's key fingerprint; run it on that host and compare, then restart weft "
           "there "
           "with the right key";
  if (kind == "gossip")
    return "the host is down, or UDP and TCP to its gossip port (GOSSIP_PORT, 7947) do not pass; once it is "
           "removed for good "
           "it leaves the membership by itself";
  if (kind == "swarm")
    return "install and enable weft on that node (docker plugin install/enable), with this cluster's KEY";
  if (kind == "mtu")
    return "every host of a network needs the same MTU (weft gives a network without -o mtu its underlay's "
           "MTU less VXLAN's 50 bytes, 70 on an IPv6 underlay): on the host(s) with the other MTU, docker "
           "network rm it and create it again with -o mtu=N, the same N on every host (`weftctl networks` "
           "shows the MTU each host gave it)";
  if (kind == "ipam")
    return "containers there may hold the same addresses as this host's: `weftctl ipam` shows the owners; "
           "reconnect (docker network disconnect/connect) the containers of the losing host's block";
  return nullptr;
}

}  // namespace

CheckOutcome runCheck(const CheckInput& in) {
  const Json& status = in.status;
  Json problems = status.value("problems", Json::array());
  Json notices = status.value("notices", Json::array());
  bool sidecarRestarted = false;
  for (const auto& n : notices) sidecarRestarted |= n.value("kind", "") == "sidecar";
  const bool multiHost = !status.value("advertiseAddr", "").empty();
  if (in.peers.is_object() && in.peers.contains("gossip")) {
    const Json& g = in.peers["gossip"];
    if (g.value("running", false)) {
      keyProblems(g, problems);
      gossipProblems(g, problems);
      swarmProblems(status, g, problems);
    } else if (multiHost) {
      // Not running yet and never restarted: weft-plugin has just started
      // and the sidecar is joining (a sidecar that fails is restarted, and
      // one that hangs "did not answer").
      const std::string why = g.value("reason", "");
      if (!sidecarRestarted && why.rfind("weft-gossip is not running", 0) == 0)
        notices.push_back({{"kind", "starting"},
                           {"message", "the gossip sidecar is starting (" + why +
                                           "); run weftctl check again "
                                           "in a few seconds"}});
      else
        problems.push_back(problem("gossip", "the gossip sidecar does not answer: " + why +
                                                 " -- this host learns no remote endpoints meanwhile"));
    }
  }
  ipamProblems(in.ipam, problems);

  CheckOutcome o;
  o.exitCode = problems.empty() ? 0 : 1;
  o.json = {{"ok", problems.empty()}, {"problems", problems}, {"notices", notices}};
  std::ostringstream t;
  for (const auto& x : notices) {
    std::string kind = x.value("kind", "");
    t << "NOTE " << x.value("message", "") << "\n";
    if (kind == "drift")
      t << "  weft put it back (RECONCILE_INTERVAL); something else on this host changes weft's "
           "sandboxes -- `ip monitor` inside the sandbox (weftctl networks: SANDBOX) shows when\n";
    else if (kind == "sidecar")
      t << "  the plugin's log (component supervisor) says why\n";
  }
  if (problems.empty()) t << "ok: no problems found on this host\n";
  for (const auto& x : problems) {
    const std::string kind = x.value("kind", "");
    t << "PROBLEM ";
    if (kind == "network" || kind == "drift")
      t << "network " << x.value("network", "").substr(0, 12) << ": ";
    else if (kind == "dataplane")
      t << "data plane: ";
    else if (kind == "key")
      t << "cluster key: ";
    else if (kind == "mtu")
      t << "MTU mismatch: ";
    else if (kind == "gossip" || kind == "swarm" || kind == "ipam")
      t << kind << ": ";
    t << x.value("message", "") << "\n";
    if (const char* a = advice(kind)) t << "  " << a << "\n";
  }
  o.text = t.str();
  return o;
}

}  // namespace weft::weftctl
