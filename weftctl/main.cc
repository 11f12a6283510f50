// weftctl: look at a running weft-plugin. Human tables by default, --json for
// scripts.
//
//   weftctl [--socket PATH] [--json] status|check|report|networks|endpoints|peers|services|ipam

#include <cctype>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/unix_http_client.h"
#include "weftctl/check.h"
#include "weftctl/crypto_view.h"
#include "weftctl/table.h"

using Json = nlohmann::json;

namespace {

const char* kUsage =
    "usage: weftctl [--socket PATH] [--json] COMMAND\n"
    "\n"
    "commands:\n"
    "  status      version, scope, addresses, counts, problems\n"
    "  check       what is wrong on this host and, as far as it sees, in the cluster, and what to\n"
    "              do; exit status 1 when anything is (notes on what weft repaired -- kernel drift,\n"
    "              sidecar restarts -- do not fail it)\n"
    "  report      everything weft knows on this host as one JSON document, for bug reports (no\n"
    "              keys in it)\n"
    "  networks    weft networks on this host: identity, VNI, MTU, subnets, outside access, sandbox\n"
    "  endpoints   endpoints on this host: address, MAC, joined, host interface\n"
    "  peers       cluster members (gossip), the remote endpoints programmed here, and the data\n"
    "              path to each peer host (VXLAN probes: small and MTU-sized, last success)\n"
    "  services    swarm services' virtual IPs on weft networks, their backends, and how many local\n"
    "              containers hold them\n"
    "  crypto      encrypted networks: backend, and per peer the key epoch, packets and bytes each way,\n"
    "              authentication failures, replays and stale keys dropped\n"
    "  crypto rotate\n"
    "              every encrypted network's senders on this host move to their next key epoch now\n"
    "              (receivers hold that key ready: nothing in flight is lost); the kernel ESP\n"
    "              backend's too, or as soon as its minimum interval (10 s) since the last allows\n"
    "  multicast   multicast pruning: per network, which hosts receive each group, this host's\n"
    "              advertised groups, and the VTEP's group entries\n"
    "  ipam        cluster-wide address pools: blocks, their owners, addresses in use here,\n"
    "              conflicts found after a partition\n"
    "  ipam release HOST\n"
    "              HOST (a node id) is gone for good: its blocks may be reclaimed now, not after\n"
    "              the grace period; refused while HOST is alive; safe to repeat and to run on\n"
    "              several hosts at once\n"
    "\n"
    "--socket defaults to $WEFT_SOCKET or /run/docker/plugins/weft.sock\n";

using weft::weftctl::pad;
using weft::weftctl::str;

void table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows) {
  weft::weftctl::table(std::cout, head, rows);
}

// An endpoint's addresses, IPv4 then IPv6, as one cell ("-" for none): a
// dual-stack endpoint shows both, an IPv6-only one its IPv6 address.
std::string addresses(const Json& e, const char* v4, const char* v6) {
  std::string out;
  for (const char* k : {v4, v6}) {
    std::string a = e.contains(k) && e[k].is_string() ? e[k].get<std::string>() : "";
    if (!a.empty()) out += (out.empty() ? "" : " ") + a;
  }
  return out.empty() ? "-" : out;
}

// Drops every member named like a secret, at any depth: the plugin's answers
// carry none (the cluster key's fingerprint at most), and a report that
// gets attached to a bug must stay so whatever a later version adds.
void redact(Json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end();) {
      std::string k = it.key();
      for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      bool secret = (k.find("key") != std::string::npos && k.find("fingerprint") == std::string::npos) ||
                    k.find("secret") != std::string::npos || k.find("password") != std::string::npos;
      if (secret) {
        it = j.erase(it);
      } else {
        redact(it.value());
        ++it;
      }
    }
  } else if (j.is_array()) {
    for (auto& x : j) redact(x);
  }
}

// weftctl multicast: /weft.Multicast as tables.
int multicast(const Json& j) {
  if (!j.value("pruning", false)) {
    std::cout << "multicast pruning: off"
              << (j.contains("reason") ? " (" + str(j["reason"]) + ")"
                                       : std::string(" (MCAST_PRUNING=false)"))
              << ": every multicast datagram goes to every host of its network\n";
    if (!j.contains("networks") || j["networks"].empty()) return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto it = j["networks"].begin(); it != j["networks"].end(); ++it) {
    const Json& n = it.value();
    const std::string id = it.key().substr(0, 12);
    if (!str(n["error"]).empty()) std::cout << id << ": " << str(n["error"]) << "\n";
    std::string local;
    for (const auto& g : n["localGroups"]) local += (local.empty() ? "" : ",") + str(g);
    if (n.value("allGroups", false)) local = "every group (past the advertisement limit)";
    std::cout << id << ": this host (" << str(j["host"]) << ") listens to "
              << (local.empty() ? "none" : local) << "\n";
    for (auto g = n["receivers"].begin(); g != n["receivers"].end(); ++g) {
      std::string hosts;
      for (const auto& h : g.value()) hosts += (hosts.empty() ? "" : ",") + str(h);
      rows.push_back({id, g.key(), hosts});
    }
  }
  std::cout << "\n";
  table({"NETWORK", "GROUP", "RECEIVING HOSTS"}, rows);
  std::cout << "\nother groups, link-local groups and broadcast go to every host of the network\n";
  return 0;
}

// weftctl report: every /weft.* answer in one document. A call that fails is
// reported in place ({"error": ...}) rather than losing the rest.
int report(weft::UnixHttpClient& client, const std::string& sock) {
  Json out = {{"reportFormat", 1}, {"socket", sock}};
  bool any = false;
  for (const auto& [name, path] :
       std::vector<std::pair<std::string, std::string>>{{"status", "/weft.Status"},
                                                        {"networks", "/weft.Networks"},
                                                        {"endpoints", "/weft.Endpoints"},
                                                        {"peers", "/weft.Peers"},
                                                        {"services", "/weft.Services"},
                                                        {"crypto", "/weft.Crypto"},
                                                        {"multicast", "/weft.Multicast"},
                                                        {"ipam", "/weft.Ipam"}}) {
    auto r = client.post(path, "{}");
    if (!r.ok()) {
      out[name] = {{"error", r.error().message}};
      continue;
    }
    Json j = Json::parse(r->body, nullptr, false);
    if (j.is_discarded() || r->status != 200) {
      out[name] = {{"error", "answered " + std::to_string(r->status) + ": " + r->body}};
      continue;
    }
    any = true;
    out[name] = std::move(j);
  }
  if (!any) {
    std::cerr << "weftctl: cannot reach weft-plugin at " << sock
              << "\n(is it running? pass --socket for a managed plugin's socket)\n";
    return 1;
  }
  redact(out);
  std::cout << out.dump(2) << "\n";
  return 0;
}

// weftctl peers: what the data-plane probes found, per peer host.
void dataPlane(const Json& d, const std::map<std::string, std::string>& gossipState) {
  std::cout << "\n";
  if (!d.value("probing", false)) {
    std::cout << "data plane: not probed (" << d.value("reason", "") << ")\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : d.value("peers", Json::array())) {
    std::string last = "never";
    if (p.contains("lastSuccessAgoMs")) {
      double ago = p["lastSuccessAgoMs"].get<double>() / 1000.0;
      std::ostringstream o;
      o.precision(1);
      o << std::fixed << ago << " s ago";
      last = o.str();
    }
    std::string rtt = p.value("smallOk", false) ? std::to_string(p.value("rttMicros", 0)) + " us" : "-";
    auto g = gossipState.find(str(p["vtep"]));
    rows.push_back({str(p["vtep"]), g == gossipState.end() ? "?" : g->second, str(p["state"]),
                    p.value("smallOk", false) ? "yes" : "no",
                    str(p["mtu"]) + (p.value("mtuOk", false) ? " yes" : " no"), rtt, last});
  }
  std::cout << "data plane (VXLAN probes every 2 s from the health namespace):\n";
  table({"PEER HOST", "GOSSIP", "VXLAN", "SMALL", "MTU PROBE", "RTT", "LAST SUCCESS"}, rows);
}

// weftctl ipam: each cluster-wide pool's blocks and who holds them.
int ipam(const Json& j) {
  if (!j.value("enabled", false)) {
    std::cout << "cluster-wide IPAM: off (it needs SCOPE=local and ADVERTISE_ADDR; pools are per host)\n";
    return 0;
  }
  std::cout << "node " << str(j["self"]) << ", claims settle after " << str(j["settleMs"])
            << " ms, a gone host's blocks are reclaimed after " << str(j["graceSeconds"]) << " s\n"
            << "lease records refused: " << str(j["refusedRecords"])
            << ", conflicts found: " << str(j["conflicts"]) << "\n";
  for (const auto& m : j.value("poolNameMismatches", Json::array()))
    std::cout << "POOL NAME MISMATCH: weft.name " << str(m["name"]) << " is " << str(m["here"])
              << " here but " << str(m["there"]) << " on " << str(m["other"])
              << " (new addresses from it are refused on both)\n";
  for (const auto& p : j["pools"]) {
    std::cout << "\npool " << str(p["pool"]) << ": " << str(p["blocks"]) << " blocks of "
              << str(p["blockSize"]) << "\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& b : p["held"])
      for (const auto& o : b["owners"]) {
        std::string state = o.value("self", false)       ? "this host, " + str(o["inUse"]) + " in use"
                            : o.value("released", false) ? "released"
                            : o.value("used", false)     ? "in use"
                                                         : "claimed";
        if (!o.value("takeoverOf", "").empty()) state += " (reclaimed from " + str(o["takeoverOf"]) + ")";
        rows.push_back({str(b["block"]), str(o["owner"]), state});
      }
    table({"BLOCK", "OWNER", "STATE"}, rows);
    for (const auto& c : p["conflicts"])
      std::cout << "CONFLICT: block " << str(c["block"]) << " also handed out by " << str(c["other"])
                << (c.value("weWin", false) ? " (this host keeps it)"
                                            : " (this host hands out no more from it)")
                << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const char* envSock = std::getenv("WEFT_SOCKET");
  std::string sock = envSock ? envSock : "/run/docker/plugins/weft.sock";
  bool json = false;
  std::string cmd;
  std::vector<std::string> args;  // after the command
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json")
      json = true;
    else if (a == "--socket" && i + 1 < argc)
      sock = argv[++i];
    else if (a.rfind("--socket=", 0) == 0)
      sock = a.substr(9);
    else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (cmd.empty() && a[0] != '-')
      cmd = a;
    else if ((cmd == "ipam" || cmd == "crypto") && a[0] != '-')
      args.push_back(a);
    else {
      std::cerr << "weftctl: unexpected argument " << a << "\n" << kUsage;
      return 2;
    }
  }
  weft::UnixHttpClient client(sock, 5000);
  if (cmd == "report") return report(client, sock);
  std::string path;
  if (cmd == "status" || cmd == "check")
    path = "/weft.Status";
  else if (cmd == "networks")
    path = "/weft.Networks";
  else if (cmd == "endpoints")
    path = "/weft.Endpoints";
  else if (cmd == "peers")
    path = "/weft.Peers";
  else if (cmd == "services")
    path = "/weft.Services";
  else if (cmd == "crypto")
    path = "/weft.Crypto";
  else if (cmd == "ipam")
    path = "/weft.Ipam";
  else if (cmd == "multicast")
    path = "/weft.Multicast";
  else {
    std::cerr << (cmd.empty() ? "weftctl: no command\n" : "weftctl: unknown command " + cmd + "\n") << kUsage;
    return 2;
  }

  std::string body = "{}";
  if (cmd == "crypto" && !args.empty()) {
    if (args.size() != 1 || args[0] != "rotate") {
      std::cerr << "weftctl: usage: weftctl crypto [rotate]\n";
      return 2;
    }
    path = "/weft.CryptoRotate";
  }
  if (cmd == "ipam" && !args.empty()) {
    if (args.size() != 2 || args[0] != "release") {
      std::cerr << "weftctl: usage: weftctl ipam [release HOST]\n";
      return 2;
    }
    path = "/weft.IpamRelease";
    body = Json{{"Host", args[1]}}.dump();
  }
  auto r = client.post(path, body);
  if (!r.ok()) {
    std::cerr << "weftctl: cannot reach weft-plugin at " << sock << ": " << r.error().message
              << "\n(is it running? pass --socket for a managed plugin's socket)\n";
    return 1;
  }
  Json j = Json::parse(r->body, nullptr, false);
  if (j.is_discarded() || r->status != 200 || j.contains("Err")) {
    std::cerr << "weftctl: weft-plugin answered " << r->status << ": " << r->body << "\n";
    return 1;
  }
  if (cmd == "check") {
    // The cluster's part comes from the other answers; one that cannot be
    // read (an older plugin) leaves its checks out rather than failing.
    weft::weftctl::CheckInput in{j, nullptr, nullptr};
    for (auto [route, into] : {std::pair{"/weft.Peers", &in.peers}, std::pair{"/weft.Ipam", &in.ipam}})
      if (auto more = client.post(route, "{}"); more.ok() && more->status == 200) {
        Json m = Json::parse(more->body, nullptr, false);
        if (!m.is_discarded() && !m.contains("Err")) *into = std::move(m);
      }
    auto out = weft::weftctl::runCheck(in);
    std::cout << (json ? out.json.dump(2) + "\n" : out.text);
    return out.exitCode;
  }
  if (json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  if (cmd == "status") {
    for (auto it = j.begin(); it != j.end(); ++it)
      if (it.key() != "problems" && it.key() != "notices" && it.key() != "selfHealing" &&
          it.key() != "names" && it.key() != "networkMtus")
        std::cout << pad(it.key(), 16) << str(it.value()) << "\n";
    const Json& h = j.value("selfHealing", Json::object());
    std::cout << pad("selfHealing", 16)
              << (h.value("on", false) ? "on, every " + str(h["intervalSeconds"]) + " s and on change; " +
                                             str(h["corrections"]) + " correction(s)"
                                       : std::string("off (RECONCILE_INTERVAL=0)"))
              << "\n";
    const Json& nm = j.value("names", Json::object());
    if (!nm.empty()) {
      size_t local = 0, remote = 0;
      for (const auto& n : nm.value("networks", Json::array()))
        local += n.value("localNames", 0u), remote += n.value("remoteNames", 0u);
      std::cout << pad("names", 16)
                << (nm.value("on", false)
                        ? "on, answered at " + str(nm["address"]) + " in each network; " +
                              std::to_string(local) + " local and " + std::to_string(remote) +
                              " remote name(s)" +
                              (nm.contains("why") ? "; engine: " + str(nm["why"]) : std::string())
                        : "off: " + str(nm.value("why", Json(""))))
                << "\n";
    }
    const Json& p = j.value("problems", Json::array());
    std::cout << pad("problems", 16) << (p.empty() ? "none" : std::to_string(p.size()) + " (weftctl check)")
              << "\n";
  } else if (cmd == "networks") {
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : j["networks"]) {
      std::string subs;
      for (const auto& s : n["subnets"]) subs += (subs.empty() ? "" : ",") + s.get<std::string>();
      // How its containers reach outside: Docker's docker_gwbridge, or not at all.
      std::string outside = n.value("gwbridge", true)    ? "gwbridge"
                            : n.value("internal", false) ? "none (internal)"
                                                         : "none (weft.gwbridge=false)";
      rows.push_back({str(n["id"]).substr(0, 12), str(n["identity"]), str(n["vni"]), str(n["mtu"]), subs,
                      str(n["endpoints"]), outside, str(n["sandbox"])});
    }
    table({"NETWORK", "IDENTITY", "VNI", "MTU", "SUBNETS", "ENDPOINTS", "OUTSIDE", "SANDBOX"}, rows);
  } else if (cmd == "peers") {
    const Json& g = j["gossip"];
    if (!g.value("running", false)) {
      std::cout << "gossip: not running (" << str(g["reason"]) << ")\n";
    } else {
      std::cout << "node " << str(g["id"]) << ", cluster key fingerprint " << str(g["keyFingerprint"])
                << ", sidecar restarts " << str(g["restarts"]) << "\n\n";
      std::vector<std::vector<std::string>> rows;
      for (const auto& m : g["members"])
        rows.push_back({str(m["id"]), str(m["addr"]), str(m["state"]), str(m["incarnation"])});
      table({"MEMBER", "ADDRESS", "STATE", "INCARNATION"}, rows);
      if (!g.value("authProblem", "").empty()) std::cout << "\n" << str(g["authProblem"]) << "\n";
      if (g.contains("authFailuresByHost") && !g["authFailuresByHost"].empty()) {
        std::cout << "\npackets that failed authentication (a host with another cluster key?):\n";
        for (auto it = g["authFailuresByHost"].begin(); it != g["authFailuresByHost"].end(); ++it)
          std::cout << "  " << it.key() << ": " << str(it.value()) << "\n";
      }
      std::cout << "\n";
    }
    // A remote endpoint's host is the member whose id is its VTEP address.
    std::map<std::string, std::string> hostState;
    if (g.value("running", false))
      for (const auto& m : g["members"]) hostState[str(m["id"])] = str(m["state"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : j["remoteEndpoints"]) {
      auto hs = hostState.find(str(r["vtep"]));
      rows.push_back({str(r["network"]), str(r["endpoint"]).substr(0, 12), addresses(r, "ipv4", "ipv6"),
                      str(r["mac"]), str(r["vtep"]), hs == hostState.end() ? "?" : hs->second});
    }
    table({"NETWORK", "REMOTE ENDPOINT", "ADDRESS", "MAC", "VTEP", "HOST"}, rows);
    dataPlane(j.value("dataPlane", Json::object()), hostState);
  } else if (cmd == "crypto" && path == "/weft.CryptoRotate") {
    weft::weftctl::printCryptoRotated(j, std::cout);
  } else if (cmd == "crypto") {
    weft::weftctl::printCrypto(j, std::cout);
  } else if (cmd == "ipam" && !args.empty()) {
    std::cout << "released " << str(j["blocks"]) << " block(s) of " << str(j["host"])
              << ": other hosts may reclaim them now\n";
  } else if (cmd == "ipam") {
    return ipam(j);
  } else if (cmd == "multicast") {
    return multicast(j);
  } else if (cmd == "services") {
    if (!j.value("enabled", false)) {
      std::cout << "service VIPs: off (they need SCOPE=global and ENGINE_SOCKET)\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : j["networks"]) {
      std::string held = str(n["programmed"]) + "/" + str(n["containers"]);
      if (!str(n["error"]).empty())
        std::cout << str(n["network"]).substr(0, 12) << ": " << str(n["error"]) << "\n";
      for (const auto& s : n["services"]) {
        std::string backends;
        for (const auto& b : s["backends"]) backends += (backends.empty() ? "" : ",") + str(b);
        std::string vip = str(s["vip"]);
        rows.push_back({str(n["network"]).substr(0, 12), str(s["name"]), vip.empty() ? "(dnsrr)" : vip,
                        backends.empty() ? "none" : backends, held});
      }
    }
    table({"NETWORK", "SERVICE", "VIP", "BACKENDS", "CONTAINERS HOLDING"}, rows);
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : j["endpoints"])
      rows.push_back({str(e["id"]).substr(0, 12), str(e["network"]).substr(0, 12),
                      addresses(e, "address", "addressIpv6"), str(e["mac"]),
                      e["joined"].get<bool>() ? "yes" : "no", str(e["hostInterface"])});
    table({"ENDPOINT", "NETWORK", "ADDRESS", "MAC", "JOINED", "HOST IF"}, rows);
  }
  return 0;
}
