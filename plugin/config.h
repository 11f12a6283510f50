#pragma once
// weft-plugin settings. Each is a flag (--advertise-addr) and an environment
// variable (WEFT_ADVERTISE_ADDR); flags win over variables.

#include <cstdint>
#include <string>
#include <vector>

#include "cluster/sidecar_launcher.h"
#include "common/result.h"

namespace weft::plugin {

// IPAM_RECLAIM_GRACE's lower bound, seconds.
inline constexpr uint32_t kMinIpamReclaimGrace = 10;

struct Config {
  std::string scope = "local";                           // SCOPE: local | global
  std::string advertiseAddr;                             // ADVERTISE_ADDR: this host's underlay address
  std::vector<std::string> peers;                        // PEERS: comma-separated seed addresses
  uint16_t gossipPort = 7947;                            // GOSSIP_PORT
  uint16_t vxlanPort = 4789;                             // VXLAN_PORT
  uint16_t encryptedPort = 4790;                         // ENCRYPTED_PORT: userspace encrypted datapath
  uint16_t espPort = 4791;                               // ESP_PORT: kernel ESP backend's VXLAN
  std::string key;                                       // KEY: cluster key (base64 or hex, 32 bytes)
  std::string keyFile;                                   // KEY_FILE
  uint32_t mtu = 0;                                      // MTU: default network MTU, 0 = from the underlay
  uint32_t healthVni = 4095;                             // HEALTH_VNI: VNI of data-plane probes, 0 = off
  std::string logLevel = "info";                         // LOG_LEVEL: debug | info | warn | error
  std::string logFormat = "text";                        // LOG_FORMAT: text | json
  std::string stateDir = "/var/lib/weft";                // STATE_DIR
  std::string netnsKeepDir;                              // NETNS_KEEP_DIR: second home of namespace mounts
  std::string socket = "/run/docker/plugins/weft.sock";  // SOCKET
  std::string engineSocket = "/run/docker.sock";         // ENGINE_SOCKET: engine API (service VIPs)
  std::string hostRunDir;                                // HOST_RUN_DIR: the host's /run as weft sees it
  bool fakeKernel = false;                               // FAKE_KERNEL: in-memory kernel shim (testing)
  // SIDECAR_USER: "UID", "UID:GID" or a user name; weft-gossip's own ids by
  // default (cluster::kDefaultSidecarUid), never 0.
  uint32_t sidecarUid = cluster::kDefaultSidecarUid;
  uint32_t sidecarGid = cluster::kDefaultSidecarGid;
  // SIDECAR_DEADLINE: seconds a running weft-gossip may go without answering
  // before it is killed and restarted (cluster::SupervisorOptions).
  uint32_t sidecarDeadline = 10;
  // RECONCILE_INTERVAL: seconds between run-time reconciles of every
  // network's kernel state (driver::DriverConfig::reconcileInterval); 0: off.
  uint32_t reconcileInterval = 5;
  // IPAM_RECLAIM_GRACE: seconds a gone host's cluster-wide IPAM blocks stay
  // its own before other hosts may reclaim them (driver::LeaseRules::graceUs).
  uint32_t ipamReclaimGrace = 600;
  std::string metricsAddr;         // METRICS_ADDR: ip:port of /metrics, empty = off
  bool metricsPeerLabels = false;  // METRICS_PEER_LABELS: per-peer series
  bool mcastPruning = true;        // MCAST_PRUNING: multicast only to hosts with listeners
  bool help = false;
  bool version = false;
};

struct SettingInfo {
  const char* name;  // ADVERTISE_ADDR
  const char* meaning;
  const char* deflt;
};
const std::vector<SettingInfo>& settings();

// `env` is consulted for WEFT_<NAME>; argv flags override it.
Result<Config> parseConfig(int argc, const char* const* argv, const std::vector<std::string>& env);
std::string usage();

// A key given as a flag (--key K, --key=K) is readable by every local user in
// /proc/<pid>/cmdline. parseConfig accepts it (KEY is meant for the
// environment: WEFT_KEY, docker plugin set KEY=), and this overwrites its
// value in argv -- which is what /proc/<pid>/cmdline shows -- and logs a
// warning saying where to put the key instead. Returns whether it found one.
bool scrubSecretArgs(int argc, char** argv);

}  // namespace weft::plugin
