#include "plugin/config.h"

#include <pwd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <sstream>
#include <tuple>

#include "common/ip.h"
#include "common/log.h"
#include "metrics/server.h"

namespace weft::plugin {

const std::vector<SettingInfo>& settings() {
  static const std::vector<SettingInfo> s = {
      {"SCOPE", "driver scope: local (standalone engines) or global (swarm)", "local"},
      {"ADVERTISE_ADDR", "this host's underlay IP address: VTEP source and gossip address",
       "(kernel's choice)"},
      {"PEERS", "comma-separated addresses of other weft hosts to join (standalone mode)", ""},
      {"GOSSIP_PORT", "TCP+UDP port of the gossip control plane", "7947"},
      {"VXLAN_PORT", "UDP port of VXLAN traffic", "4789"},
      {"ENCRYPTED_PORT", "UDP port of encrypted networks' traffic (weft's userspace datapath)", "4790"},
      {"ESP_PORT",
       "UDP port of encrypted networks' traffic on the kernel ESP backend (VXLAN inside ESP); not "
       "VXLAN_PORT, "
       "ENCRYPTED_PORT or GOSSIP_PORT",
       "4791"},
      {"KEY", "cluster key, 32 bytes as base64 or hex; give it as WEFT_KEY, not as a flag (see README)", ""},
      {"KEY_FILE", "file holding the cluster key", ""},
      {"MTU", "default MTU of new networks; 0 derives it from the underlay", "0"},
      {"HEALTH_VNI",
       "VNI of the data-plane probes between hosts (the same on every host; refused for networks); 0 turns "
       "the probes off",
       "4095"},
      {"LOG_LEVEL", "debug, info, warn or error", "info"},
      {"LOG_FORMAT",
       "text, or json: one JSON object per line (time, level, component, message, network, endpoint)",
       "text"},
      {"STATE_DIR", "where weft keeps its state and namespace mounts", "/var/lib/weft"},
      {"NETNS_KEEP_DIR",
       "also keep each network namespace mounted here, on a mount nobody else unmounts (managed plugin: "
       "survives docker plugin disable/upgrade)",
       ""},
      {"SOCKET", "unix socket Docker dials", "/run/docker/plugins/weft.sock"},
      {"ENGINE_SOCKET",
       "the Docker engine's API socket, read (GET only) for swarm services' virtual IPs (SCOPE=global) and "
       "containers' names, aliases and compose services (names across hosts); empty: both off",
       "/run/docker.sock"},
      {"HOST_RUN_DIR",
       "where weft sees the host's /run (managed plugin: /host/run), to find containers' namespaces "
       "(Join's SandboxKey) there; empty: Docker's paths as they are",
       ""},
      {"FAKE_KERNEL", "true: serve against the in-memory kernel shim (testing, no root)", "false"},
      {"SIDECAR_USER",
       "UID, UID:GID or a user name that weft-gossip runs as: its own, shared with no other process",
       "65533"},
      {"SIDECAR_DEADLINE",
       "seconds weft-gossip may go without answering before it is killed and restarted (1-3600)", "10"},
      {"RECONCILE_INTERVAL",
       "seconds between looks at every network's kernel state (drift is put back; a change notification "
       "makes the look at once); 0: off (0-3600)",
       "5"},
      {"IPAM_RECLAIM_GRACE",
       "seconds a host that left (unreachable, or stopped for good) keeps its cluster-wide IPAM blocks "
       "before "
       "other hosts may reclaim them; shorter than a host's longest outage risks reported duplicates when it "
       "returns (10-604800)",
       "600"},
      {"METRICS_ADDR", "serve Prometheus metrics at http://ip:port/metrics (e.g. 127.0.0.1:9947); empty: off",
       ""},
      {"METRICS_PEER_LABELS", "true: also per-peer metric series (one per gossip member)", "false"},
      {"MCAST_PRUNING",
       "true: a multicast group's datagrams go only to the hosts with a listener for it (link-local groups "
       "and broadcast still go to every host); false: to every host of the network",
       "true"},
  };
  return s;
}

std::string usage() {
  std::ostringstream o;
  o << "usage: weft-plugin [--setting=value | --setting value]...\n\n"
       "Every setting is also read from the environment as WEFT_<NAME>; flags win.\n\n";
  for (const auto& s : settings()) {
    std::string flag = "--";
    for (const char* c = s.name; *c; ++c) flag += (*c == '_') ? '-' : static_cast<char>(*c - 'A' + 'a');
    o << "  " << flag << std::string(flag.size() < 18 ? 18 - flag.size() : 1, ' ') << s.meaning;
    if (*s.deflt) o << " (default " << s.deflt << ")";
    o << "\n";
  }
  o << "  --help            this text\n  --version         print the version\n";
  return o.str();
}

namespace {

Result<uint64_t> number(const std::string& name, const std::string& v, uint64_t lo, uint64_t hi) {
  if (v.empty() || v.size() > 10 || v.find_first_not_of("0123456789") != std::string::npos)
    return Error{EINVAL, name + "=\"" + v + "\" is not a number"};
  uint64_t n = std::stoull(v);
  if (n < lo || n > hi)
    return Error{EINVAL,
                 name + "=" + v + " is out of range (" + std::to_string(lo) + "-" + std::to_string(hi) + ")"};
  return n;
}

// "UID", "UID:GID" (numbers, which need no user database: the managed
// plugin's rootfs has none) or a user name looked up with getpwnam (its
// primary group). Never 0: root's ids would defeat the privilege drop.
Result<std::pair<uint32_t, uint32_t>> sidecarUser(const std::string& v) {
  constexpr uint64_t kMaxId = 4294967294;  // (uid_t)-1 means "unchanged" to setresuid
  if (!v.empty() && std::isdigit(static_cast<unsigned char>(v[0]))) {
    auto colon = v.find(':');
    auto uid = number("SIDECAR_USER uid", v.substr(0, colon), 1, kMaxId);
    if (!uid.ok()) return uid.error();
    uint64_t gid = *uid;
    if (colon != std::string::npos) {
      auto g = number("SIDECAR_USER gid", v.substr(colon + 1), 1, kMaxId);
      if (!g.ok()) return g.error();
      gid = *g;
    }
    return std::pair<uint32_t, uint32_t>(static_cast<uint32_t>(*uid), static_cast<uint32_t>(gid));
  }
  if (v.empty() || v.size() > 64) return Error{EINVAL, "SIDECAR_USER must be UID, UID:GID or a user name"};
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  int err = ::getpwnam_r(v.c_str(), &pw, buf.data(), buf.size(), &found);
  if (err != 0 || !found)
    return Error{EINVAL, "SIDECAR_USER: no user \"" + v + "\" here" +
                             (err ? std::string(": ") + std::strerror(err) : "") + " (give UID or UID:GID)"};
  if (pw.pw_uid == 0 || pw.pw_gid == 0)
    return Error{EINVAL, "SIDECAR_USER: \"" + v + "\" has uid or gid 0; weft-gossip must not run as root"};
  return std::pair<uint32_t, uint32_t>(pw.pw_uid, pw.pw_gid);
}

Status apply(Config& c, const std::string& name, const std::string& v) {
  if (name == "SCOPE") {
    if (v != "local" && v != "global")
      return Error{EINVAL, "SCOPE must be local or global, not \"" + v + "\""};
    c.scope = v;
  } else if (name == "ADVERTISE_ADDR") {
    if (!v.empty() && !IpAddr::parse(v))
      return Error{EINVAL, "ADVERTISE_ADDR \"" + v + "\" is not an IP address"};
    c.advertiseAddr = v;
  } else if (name == "PEERS") {
    c.peers.clear();
    std::stringstream ss(v);
    std::string p;
    while (std::getline(ss, p, ',')) {
      while (!p.empty() && p.front() == ' ') p.erase(0, 1);
      while (!p.empty() && p.back() == ' ') p.pop_back();
      if (p.empty()) continue;
      if (!IpAddr::parse(p)) return Error{EINVAL, "PEERS entry \"" + p + "\" is not an IP address"};
      c.peers.push_back(p);
    }
  } else if (name == "GOSSIP_PORT") {
    auto n = number(name, v, 1, 65535);
    if (!n.ok()) return n.error();
    c.gossipPort = static_cast<uint16_t>(*n);
  } else if (name == "VXLAN_PORT") {
    auto n = number(name, v, 1, 65535);
    if (!n.ok()) return n.error();
    c.vxlanPort = static_cast<uint16_t>(*n);
  } else if (name == "ENCRYPTED_PORT") {
    auto n = number(name, v, 1, 65535);
    if (!n.ok()) return n.error();
    c.encryptedPort = static_cast<uint16_t>(*n);
  } else if (name == "ESP_PORT") {
    auto n = number(name, v, 1, 65535);
    if (!n.ok()) return n.error();
    c.espPort = static_cast<uint16_t>(*n);
  } else if (name == "KEY") {
    c.key = v;
  } else if (name == "KEY_FILE") {
    c.keyFile = v;
  } else if (name == "MTU") {
    if (v == "0" || v.empty()) {
      c.mtu = 0;
    } else {
      auto n = number(name, v, 576, 65535);
      if (!n.ok()) return n.error();
      c.mtu = static_cast<uint32_t>(*n);
    }
  } else if (name == "HEALTH_VNI") {
    auto n = number(name, v, 0, 4095);  // weft's VNI range: Docker's overlay uses 4096 and up
    if (!n.ok()) return n.error();
    c.healthVni = static_cast<uint32_t>(*n);
  } else if (name == "LOG_LEVEL") {
    log::Level l;
    if (!log::parseLevel(v, &l))
      return Error{EINVAL, "LOG_LEVEL must be debug, info, warn or error, not \"" + v + "\""};
    c.logLevel = v;
  } else if (name == "LOG_FORMAT") {
    log::Format f;
    if (!log::parseFormat(v, &f)) return Error{EINVAL, "LOG_FORMAT must be text or json, not \"" + v + "\""};
    c.logFormat = v;
  } else if (name == "STATE_DIR") {
    if (v.empty() || v[0] != '/') return Error{EINVAL, "STATE_DIR must be an absolute path"};
    c.stateDir = v;
  } else if (name == "NETNS_KEEP_DIR") {
    if (!v.empty() && v[0] != '/') return Error{EINVAL, "NETNS_KEEP_DIR must be an absolute path (or empty)"};
    c.netnsKeepDir = v;
  } else if (name == "SOCKET") {
    if (v.empty() || v.size() > 100) return Error{EINVAL, "SOCKET must be a path of at most 100 bytes"};
    c.socket = v;
  } else if (name == "SIDECAR_USER") {
    auto ids = sidecarUser(v);
    if (!ids.ok()) return ids.error();
    std::tie(c.sidecarUid, c.sidecarGid) = *ids;
  } else if (name == "SIDECAR_DEADLINE") {
    auto n = number(name, v, 1, 3600);
    if (!n.ok()) return n.error();
    c.sidecarDeadline = static_cast<uint32_t>(*n);
  } else if (name == "RECONCILE_INTERVAL") {
    auto n = number(name, v, 0, 3600);
    if (!n.ok()) return n.error();
    c.reconcileInterval = static_cast<uint32_t>(*n);
  } else if (name == "IPAM_RECLAIM_GRACE") {
    // The lower bound: well past gossip's failure detection (a few seconds)
    // and a claim's settle time (1.5 s), so a host that is merely slow is
    // never reclaimed from.
    auto n = number(name, v, kMinIpamReclaimGrace, 604800);
    if (!n.ok()) return n.error();
    c.ipamReclaimGrace = static_cast<uint32_t>(*n);
  } else if (name == "ENGINE_SOCKET") {
    if (!v.empty() && (v[0] != '/' || v.size() > 100))
      return Error{EINVAL, "ENGINE_SOCKET must be an absolute path of at most 100 bytes (or empty)"};
    c.engineSocket = v;
  } else if (name == "HOST_RUN_DIR") {
    if (!v.empty() && v[0] != '/') return Error{EINVAL, "HOST_RUN_DIR must be an absolute path (or empty)"};
    c.hostRunDir = v;
  } else if (name == "FAKE_KERNEL") {
    if (v == "" || v == "true" || v == "1")
      c.fakeKernel = true;
    else if (v == "false" || v == "0")
      c.fakeKernel = false;
    else
      return Error{EINVAL, "FAKE_KERNEL must be true or false"};
  } else if (name == "METRICS_ADDR") {
    if (!v.empty())
      if (auto a = metrics::parseListenAddress(v); !a.ok())
        return Error{EINVAL, "METRICS_ADDR " + a.error().message};
    c.metricsAddr = v;
  } else if (name == "METRICS_PEER_LABELS") {
    if (v == "true" || v == "1")
      c.metricsPeerLabels = true;
    else if (v == "" || v == "false" || v == "0")
      c.metricsPeerLabels = false;
    else
      return Error{EINVAL, "METRICS_PEER_LABELS must be true or false"};
  } else if (name == "MCAST_PRUNING") {
    if (v == "" || v == "true" || v == "1")
      c.mcastPruning = true;
    else if (v == "false" || v == "0")
      c.mcastPruning = false;
    else
      return Error{EINVAL, "MCAST_PRUNING must be true or false"};
  } else {
    return Error{EINVAL, "unknown setting " + name};
  }
  return Status::Ok();
}

bool known(const std::string& name) {
  for (const auto& s : settings())
    if (name == s.name) return true;
  return false;
}

// The setting a "--some-flag[=value]" argument names: SOME_FLAG.
std::string flagSetting(const std::string& arg) {
  std::string name;
  for (char ch : arg.substr(2, arg.find('=') == std::string::npos ? std::string::npos : arg.find('=') - 2))
    name += (ch == '-') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return name;
}

}  // namespace

bool scrubSecretArgs(int argc, char** argv) {
  bool found = false;
  auto scrub = [](char* s) {
    for (; *s; ++s) *s = 'x';
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || flagSetting(a) != "KEY") continue;
    found = true;
    if (auto eq = a.find('='); eq != std::string::npos)
      scrub(argv[i] + eq + 1);
    else if (i + 1 < argc)
      scrub(argv[++i]);
  }
  if (found)
    LOG_WARN("config",
             "--key put the cluster key on the command line, where every local user could read it "
             "(ps, /proc/<pid>/cmdline) until weft overwrote it just now -- and it may be in shell "
             "history or a unit file. Pass it in the environment as WEFT_KEY (what `docker plugin "
             "set KEY=` does) or in a file named by --key-file (WEFT_KEY_FILE) instead");
  return found;
}

static Status checkPeerFamilies(const Config& c) {
  // One underlay family per cluster: a VTEP sends over the family of its
  // local address (the kernel refuses an FDB destination of the other one),
  // and the gossip sockets are bound to ADVERTISE_ADDR. A peer of the other
  // family could never be reached, so it is refused here, by name.
  auto self = IpAddr::parse(c.advertiseAddr);
  if (!self) return Status::Ok();
  auto family = [](const IpAddr& a) { return a.isV6() ? "IPv6" : "IPv4"; };
  for (const auto& p : c.peers) {
    auto a = IpAddr::parse(p);
    if (a && a->isV6() != self->isV6())
      return Error{EINVAL, "PEERS entry \"" + p + "\" is an " + family(*a) +
                               " address but ADVERTISE_ADDR \"" + c.advertiseAddr + "\" is " + family(*self) +
                               ": weft does not mix underlay families in one cluster; give every host's " +
                               family(*self) + " address"};
  }
  return Status::Ok();
}

static Status checkEspPort(const Config& c) {
  // The kernel backend's VXLAN runs inside ESP on its own port: the xfrm
  // policies that require ESP (and block cleartext) select it by port, so
  // sharing one with plain VXLAN, the userspace datapath or the gossip
  // would block or encrypt the wrong traffic.
  for (const auto& [name, port] : {std::pair<const char*, uint16_t>{"VXLAN_PORT", c.vxlanPort},
                                   {"ENCRYPTED_PORT", c.encryptedPort},
                                   {"GOSSIP_PORT", c.gossipPort}})
    if (c.espPort == port)
      return Error{EINVAL,
                   "ESP_PORT " + std::to_string(c.espPort) + " equals " + name +
                       "; the kernel ESP backend needs a UDP port of its own (the same on every host)"};
  return Status::Ok();
}

Result<Config> parseConfig(int argc, const char* const* argv, const std::vector<std::string>& env) {
  Config c;
  for (const auto& kv : env) {
    if (kv.rfind("WEFT_", 0) != 0) continue;
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string name = kv.substr(5, eq - 5);
    if (!known(name)) continue;  // other WEFT_ variables are not ours to judge
    if (auto st = apply(c, name, kv.substr(eq + 1)); !st)
      return Error{EINVAL, "environment WEFT_" + name + ": " + st.error().message};
  }
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      c.help = true;
      continue;
    }
    if (a == "--version") {
      c.version = true;
      continue;
    }
    if (a.rfind("--", 0) != 0) return Error{EINVAL, "unexpected argument \"" + a + "\" (see --help)"};
    std::string flag = a.substr(2), value;
    bool hasValue = false;
    if (auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      hasValue = true;
    }
    std::string name = flagSetting(a);
    if (!known(name)) return Error{EINVAL, "unknown flag --" + flag + " (see --help)"};
    if (!hasValue) {
      if (name == "FAKE_KERNEL") {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return Error{EINVAL, "flag --" + flag + " needs a value"};
      }
    }
    if (auto st = apply(c, name, value); !st)
      return Error{EINVAL, "flag --" + flag + ": " + st.error().message};
  }
  if (auto st = checkPeerFamilies(c); !st) return st.error();
  if (auto st = checkEspPort(c); !st) return st.error();
  return c;
}

}  // namespace weft::plugin
