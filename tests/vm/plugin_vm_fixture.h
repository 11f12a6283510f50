#pragma once
// Two real weft-plugin processes in the VM (tests/vm/plugin_vm_test.cc), as
// in legacy socket mode without Docker: each runs in its own "host"
// namespace (a veth underlay, 198.18.10.0/24) with ADVERTISE_ADDR, PEERS,
// KEY_FILE, SCOPE=local, its own STATE_DIR and socket, and starts its
// weft-gossip sidecar itself. The test makes Docker's calls over the socket
// and does what Docker does with their answers (a container namespace per
// host). Everything goes after the last test (TearDownTestSuite): the
// containers, the network (Docker's calls), the plugins (SIGTERM), their
// state directories (namespace mounts included) and the host namespaces.

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "common/json_file.h"
#include "common/unix_http_client.h"
#include "kernel/netlink_kernel.h"
#include "tests/support/process.h"
#include "tests/vm/container_link.h"
#include "tests/vm/esp_vm_fixture.h"

namespace weft::vmtest {

using Json = nlohmann::json;

const std::string kPluginRun = "/run/weft-vm-plugin";
const std::string kSubnet = "10.77.0.0/24";
constexpr uint16_t kEspPort = 4791;  // ESP_PORT's default

// Where the VM's init put weft-plugin and weft-gossip (run-vm-test.sh).
inline std::string pluginBinary() {
  const char* dir = std::getenv("WEFT_VM_BIN_DIR");
  return std::string(dir ? dir : "/weft") + "/weft-plugin";
}

// Processes (not zombies) whose NUL-separated command line `match`es.
inline std::vector<pid_t> processes(const std::function<bool(const std::string&)>& match) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    const std::string dir = "/proc/" + std::string(e->d_name);
    std::ifstream cmd(dir + "/cmdline"), stat(dir + "/stat");
    std::string argv((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>()), line;
    std::getline(stat, line);
    const auto paren = line.rfind(')');
    const bool zombie = paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
    if (!zombie && !argv.empty() && match(argv)) out.push_back(pid);
  }
  ::closedir(d);
  return out;
}
// The weft-gossip sidecar weft-plugin `plugin` started (0: none).
inline pid_t sidecarOf(pid_t plugin) {
  const std::string parent = std::string("--parent-pid") + '\0' + std::to_string(plugin) + '\0';
  auto p = processes([&](const std::string& argv) {
    return argv.find("weft-gossip") != std::string::npos && argv.find(parent) != std::string::npos;
  });
  return p.empty() ? 0 : p.front();
}
// Gone, or a zombie nobody reaped yet (its parent died).
inline bool exited(pid_t pid) {
  const auto live = processes([](const std::string&) { return true; });
  return std::find(live.begin(), live.end(), pid) == live.end();
}

struct PluginHost {
  std::string name, ns, underlay, peerUnderlay, networkId, endpointId, container;
  std::string nsPath, containerPath;
  std::unique_ptr<test::ChildProcess> proc;
  std::unique_ptr<UnixHttpClient> client;
  std::string poolId, gateway, address, mac;  // address: a.b.c.d/24
  bool networkMade = false, joined = false;

  std::string dir() const { return kPluginRun + "/" + name; }
  std::string sock() const { return dir() + "/weft.sock"; }
  std::string log() const { return dir() + "/plugin.log"; }
  std::string ip() const { return address.substr(0, address.find('/')); }
};

class PluginVm : public ::testing::Test {
 protected:
  static inline std::unique_ptr<NetlinkKernel> root_;
  static inline PluginHost a_, b_;

  static void SetUpTestSuite() {
    if (root_) return;
    root_ = std::make_unique<NetlinkKernel>(kPluginRun + "/netns");
    a_.name = "a", a_.ns = "plughosta", a_.underlay = "198.18.10.1", a_.peerUnderlay = "198.18.10.2";
    b_.name = "b", b_.ns = "plughostb", b_.underlay = "198.18.10.2", b_.peerUnderlay = "198.18.10.1";
    a_.networkId = std::string(64, 'a'), b_.networkId = std::string(64, 'b');  // Docker's, per engine
    a_.endpointId = "0a" + std::string(62, 'e'), b_.endpointId = "0b" + std::string(62, 'e');
    a_.container = "plugca", b_.container = "plugcb";
  }
  static void TearDownTestSuite() {
    for (PluginHost* h : {&a_, &b_}) {
      if (!root_) break;
      (void)root_->deleteNetns(h->container);  // the container's end of the veth goes with it
      if (h->client && h->proc && h->proc->running()) {
        if (h->joined) {
          (void)call(*h, "/NetworkDriver.Leave",
                     {{"NetworkID", h->networkId}, {"EndpointID", h->endpointId}});
          (void)call(*h, "/NetworkDriver.DeleteEndpoint",
                     {{"NetworkID", h->networkId}, {"EndpointID", h->endpointId}});
        }
        if (h->networkMade) (void)call(*h, "/NetworkDriver.DeleteNetwork", {{"NetworkID", h->networkId}});
      }
      stopPlugin(*h);
      // Namespace mounts a failed stop left in the state directory.
      std::error_code ec;
      const std::string netns = h->dir() + "/state/netns";
      if (std::filesystem::is_directory(netns, ec))
        for (const auto& f : std::filesystem::directory_iterator(netns, ec))
          (void)::umount2(f.path().c_str(), MNT_DETACH);
      std::filesystem::remove_all(h->dir(), ec);
      (void)root_->deleteNetns(h->ns);
    }
    if (root_) {
      auto left = root_->listNetns();
      if (!left.ok() || !left->empty()) ADD_FAILURE() << "plugin-vm-test: namespaces left behind";
    }
    root_.reset();
    std::error_code ec;
    std::filesystem::remove_all(kPluginRun, ec);
    if (std::filesystem::exists(kPluginRun, ec)) ADD_FAILURE() << kPluginRun << " could not be removed";
    auto weftProcesses = [] {
      return processes([](const std::string& argv) {
        return argv.find("weft-plugin") != std::string::npos || argv.find("weft-gossip") != std::string::npos;
      });
    };
    auto weft = weftProcesses();
    for (int i = 0; i < 200 && !weft.empty(); ++i) {  // sidecars exit after their plugin
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      weft = weftProcesses();
    }
    if (!weft.empty()) ADD_FAILURE() << weft.size() << " weft-plugin/weft-gossip processes left running";
  }

  // weft-plugin in h's host namespace, as its operator would start it.
  static void startPlugin(PluginHost& h) {
    std::vector<std::string> argv = {"/bin/nsenter",
                                     "--net=" + h.nsPath,
                                     pluginBinary(),
                                     "--socket=" + h.sock(),
                                     "--state-dir=" + h.dir() + "/state",
                                     "--advertise-addr=" + h.underlay,
                                     "--peers=" + h.peerUnderlay,
                                     "--key-file=" + kPluginRun + "/cluster.key",
                                     "--scope=local",
                                     "--engine-socket="};
    h.proc = std::make_unique<test::ChildProcess>(argv, h.log());
    h.client = std::make_unique<UnixHttpClient>(h.sock(), 5000);
  }
  // Until it answers Plugin.Activate (false: it exited, or not within `limit`).
  static bool waitReady(PluginHost& h, std::chrono::seconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end && h.proc->running()) {
      UnixHttpClient probe(h.sock(), 500);
      if (probe.post("/Plugin.Activate", "{}").ok()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  static void stopPlugin(PluginHost& h) {
    if (!h.proc) return;
    if (h.proc->running()) {
      ::kill(h.proc->pid(), SIGTERM);
      if (!h.proc->waitExit(5000))
        std::printf("plugin-vm-test: weft-plugin %s ignored SIGTERM\n", h.name.c_str());
    }
    h.proc.reset();  // SIGKILL when it is still there
    h.client.reset();
  }
  static std::string logOf(const PluginHost& h) {
    auto t = readFile(h.log());
    return t.ok() ? *t : "(no log)";
  }

  // One of Docker's calls; transport failures and Err come back as {"Err"}.
  static Json call(PluginHost& h, const std::string& path, const Json& body) {
    auto r = h.client->post(path, body.dump());
    if (!r.ok()) return Json{{"Err", path + ": " + r.error().message}};
    auto j = Json::parse(r->body, nullptr, false);
    if (j.is_discarded()) return Json{{"Err", path + ": not JSON: " + r->body}};
    return j;
  }
  static bool failed(const Json& j) { return !j.is_object() || j.contains("Err") || j.contains("Error"); }
  // j[key] when j is an object that has it, else an empty object (so that
  // .value() on it gives the default instead of throwing).
  static Json field(const Json& j, const std::string& key) {
    if (!j.is_object() || !j.contains(key) || !j.at(key).is_object()) return Json::object();
    return j.at(key);
  }

  // `docker network create -d weft --ipam-driver weft --subnet ... -o encrypted`.
  static Status createNetwork(PluginHost& h) {
    auto pool = call(h, "/IpamDriver.RequestPool",
                     {{"AddressSpace", "weft-local"}, {"Pool", kSubnet}, {"V6", false}});
    if (failed(pool)) return Error{EIO, pool.dump()};
    h.poolId = pool.value("PoolID", "");
    auto gw =
        call(h, "/IpamDriver.RequestAddress",
             {{"PoolID", h.poolId}, {"Options", {{"RequestAddressType", "com.docker.network.gateway"}}}});
    if (failed(gw)) return Error{EIO, gw.dump()};
    h.gateway = gw.value("Address", "");
    auto net = call(
        h, "/NetworkDriver.CreateNetwork",
        {{"NetworkID", h.networkId},
         {"Options",
          {{"com.docker.network.generic", {{"encrypted", ""}}}, {"com.docker.network.enable_ipv6", false}}},
         {"IPv4Data", {{{"AddressSpace", "weft-local"}, {"Pool", kSubnet}, {"Gateway", h.gateway}}}}});
    if (failed(net)) return Error{EIO, net.dump()};
    h.networkMade = true;
    return Status::Ok();
  }
  // `docker run --network`: address, endpoint, join; then what Docker does
  // with the answer, in the container's namespace.
  static Status runContainer(PluginHost& h) {
    auto a = call(h, "/IpamDriver.RequestAddress", {{"PoolID", h.poolId}});
    if (failed(a)) return Error{EIO, a.dump()};
    h.address = a.value("Address", "");
    auto ce = call(
        h, "/NetworkDriver.CreateEndpoint",
        {{"NetworkID", h.networkId}, {"EndpointID", h.endpointId}, {"Interface", {{"Address", h.address}}}});
    if (failed(ce)) return Error{EIO, ce.dump()};
    h.mac = field(ce, "Interface").value("MacAddress", "");
    auto j = call(h, "/NetworkDriver.Join",
                  {{"NetworkID", h.networkId},
                   {"EndpointID", h.endpointId},
                   {"SandboxKey", "/var/run/docker/netns/" + h.container}});
    if (failed(j)) return Error{EIO, j.dump()};
    h.joined = true;
    const std::string src = field(j, "InterfaceName").value("SrcName", "");
    const std::string dst = field(j, "InterfaceName").value("DstPrefix", "") + "0";
    if (auto st = root_->createNetns(h.container); !st) return st;
    h.containerPath = root_->netnsPath(h.container);
    if (auto st = moveIntoContainer(h.nsPath, src, h.containerPath, dst, h.mac); !st) return st;
    for (auto st : {root_->addAddress(h.container, dst, h.address), root_->setLinkUp(h.container, dst, true),
                    root_->setLinkUp(h.container, "lo", true)})
      if (!st) return st;
    auto link = root_->getLink(h.container, dst);
    if (!link) return link.error();
    if (link->mac != h.mac) return Error{EINVAL, dst + " has MAC " + link->mac + ", not " + h.mac};
    return Status::Ok();
  }

  // /weft.Crypto (what `weftctl crypto` prints).
  static Json crypto(PluginHost& h) { return call(h, "/weft.Crypto", Json::object()); }

  // A kernel pair between h and its peer as h's plugin reports it.
  struct KernelPair {
    std::string backend;  // of the encrypted network's pair with the peer
    std::optional<uint32_t> outEpoch, outSpi;
    std::set<uint32_t> inEpochs;  // the peer's epochs h accepts
  };
  static KernelPair kernelPair(const Json& c, const std::string& peer) {
    KernelPair p;
    for (const auto& n : field(c, "selection").value("networks", Json::array()))
      for (const auto& s : n.value("peers", Json::array()))
        if (s.value("host", "") == peer) p.backend = s.value("backend", "");
    for (const auto& s : field(c, "kernel").value("peers", Json::array()))
      if (s.value("peer", "") == peer) {
        p.outEpoch = s.value("outEpoch", 0u);
        p.outSpi = s.value("outSpi", 0u);
        for (const auto& e : s.value("inEpochs", Json::array())) p.inEpochs.insert(e.get<uint32_t>());
      }
    return p;
  }
  // Both plugins carry the pair on the kernel backend, and each accepts the
  // epoch the other sends at (learnt over the gossip): the epochs agreed.
  static bool agreed(std::string* why) {
    auto ca = crypto(a_), cb = crypto(b_);
    auto pa = kernelPair(ca, b_.underlay), pb = kernelPair(cb, a_.underlay);
    *why = "a: " + ca.dump() + "\nb: " + cb.dump();
    return pa.backend == "kernel" && pb.backend == "kernel" && pa.outEpoch && pb.outEpoch &&
           pb.inEpochs.count(*pa.outEpoch) && pa.inEpochs.count(*pb.outEpoch);
  }
  static bool waitAgreed(std::chrono::seconds limit, std::string* why) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (agreed(why)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }
};

}  // namespace weft::vmtest
