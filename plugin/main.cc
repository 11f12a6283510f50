// weft-plugin: serves Docker's NetworkDriver and IpamDriver protocols on a
// unix socket.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "cluster/ipc_messages.h"
#include "cluster/sidecar_launcher.h"
#include "cluster/supervisor.h"
#include "common/host_port.h"
#include "common/json_file.h"
#include "common/log.h"
#include "driver/driver.h"
#include "driver/mcast_pruner.h"
#include "driver/prober.h"
#include "driver/userspace_plane.h"
#include "engine/engine_client.h"
#include "engine/event_stream.h"
#include "gossip/keyring.h"
#include "kernel/bridge_mcast.h"
#include "metrics/metrics.h"
#include "metrics/server.h"
#include "plugin/api.h"
#include "plugin/cluster_key.h"
#include "plugin/config.h"
#include "plugin/http_service.h"
#include "plugin/kernel_backend.h"
#include "plugin/kernel_select.h"
#include "plugin/metrics_source.h"
#include "plugin/unix_server.h"
#include "plugin/version.h"
#include "services/name_service.h"
#include "services/vip_manager.h"

extern char** environ;

namespace {
using namespace weft;

int run(int argc, char** argv) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  auto cfg = plugin::parseConfig(argc, argv, env);
  if (cfg.ok()) {  // before anything logs
    log::Level lvl;
    log::parseLevel(cfg->logLevel, &lvl);
    log::setLevel(lvl);
    log::Format format;
    log::parseFormat(cfg->logFormat, &format);
    log::setFormat(format);
  }
  plugin::scrubSecretArgs(argc, argv);  // a --key value stops showing in /proc/<pid>/cmdline
  if (!cfg.ok()) {
    std::fprintf(stderr, "weft-plugin: %s\n", cfg.error().message.c_str());
    return 2;
  }
  if (cfg->help) {
    std::fputs(plugin::usage().c_str(), stdout);
    return 0;
  }
  if (cfg->version) {
    std::printf("weft-plugin %s\n", plugin::kVersion);
    return 0;
  }

  // Block the stop signals in every thread; one thread waits for them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // The metrics listener first: an address that cannot be had stops the
  // start before anything (state, kernel) is touched.
  std::unique_ptr<metrics::Server> metricsServer;
  if (!cfg->metricsAddr.empty()) {
    auto server = metrics::Server::start(*metrics::parseListenAddress(cfg->metricsAddr));
    if (!server.ok()) {
      std::fprintf(stderr, "weft-plugin: METRICS_ADDR: %s\n", server.error().message.c_str());
      return 1;
    }
    metricsServer = std::move(*server);
  }

  if (auto st = makeDirs(cfg->stateDir, 0700); !st) {
    std::fprintf(stderr, "weft-plugin: state directory: %s\n", st.error().message.c_str());
    return 1;
  }
  std::string netnsDir = cfg->stateDir + "/netns";
  std::vector<std::string> hostWarnings;
  auto kernel = plugin::makeKernel(cfg->fakeKernel, netnsDir, cfg->netnsKeepDir, &hostWarnings);
  if (!kernel.ok()) {
    std::fprintf(stderr, "weft-plugin: %s\n", kernel.error().message.c_str());
    return 1;
  }
  // The cluster key: the gossip's, and the root of encrypted networks' keys
  // (both backends').
  std::optional<plugin::ClusterKeys> keys;
  if (!cfg->advertiseAddr.empty()) {
    auto loaded = plugin::loadClusterKeys(*cfg);
    if (!loaded.ok()) {
      std::fprintf(stderr, "weft-plugin: %s\n", loaded.error().message.c_str());
      return 1;
    }
    keys = std::move(*loaded);
  }

  driver::DriverConfig dc;
  std::unique_ptr<plugin::KernelBackend> kernelBackend;  // outlives the driver's use of it
  if (auto st = (*kernel)->probe(); !st) {
    if (st.code() != EPROTONOSUPPORT) {
      std::fprintf(stderr, "weft-plugin: this kernel cannot run weft: %s\n", st.error().message.c_str());
      return 1;
    }
    // Only IPsec is missing: plain networks work, and encrypted ones on the
    // userspace backend.
    LOG_INFO("plugin", "no kernel ESP on this host (" << st.error().message
                                                      << "): encrypted networks use the userspace datapath");
    dc.kernelCryptoOff = "its kernel has no ESP (" + st.error().message + ")";
  } else if (cfg->fakeKernel) {
    dc.kernelCryptoOff = "the fake kernel has no data plane";
  } else if (!keys) {
    dc.kernelCryptoOff =
        "this host has no cluster key (it runs without ADVERTISE_ADDR; the kernel backend's keys derive "
        "from the key that comes with ADVERTISE_ADDR and KEY or KEY_FILE)";
  } else if (auto key = gossip::parseKey(keys->keys.front()); !key.ok()) {
    dc.kernelCryptoOff = "the cluster key cannot be read: " + key.error().message;
  } else {
    // Its own port, distinct from the others (checked with the settings);
    // it adopts what an earlier run left in the kernel (driver/kernel_plane.h).
    auto started = plugin::KernelBackend::start(**kernel, *cfg, *key);
    if (started.ok()) {
      kernelBackend = std::move(*started);
      // DriverConfig's default says "not running": it runs (tests/vm/plugin_vm_test.cc
      // is what notices when it is left set).
      dc.kernelCryptoOff.clear();
    } else {
      dc.kernelCryptoOff = "the kernel ESP backend cannot start: " + started.error().message;
      LOG_WARN("plugin",
               "encrypted networks: " << dc.kernelCryptoOff << "; pairs use the userspace datapath");
    }
  }

  dc.stateDir = cfg->stateDir;
  dc.scope = cfg->scope;
  dc.advertiseAddr = cfg->advertiseAddr;
  dc.vxlanPort = cfg->vxlanPort;
  dc.defaultMtu = cfg->mtu;
  dc.reservedVni = cfg->healthVni;
  dc.reconcileInterval = std::chrono::seconds(cfg->reconcileInterval);
  dc.leaseRules.graceUs = int64_t{cfg->ipamReclaimGrace} * 1'000'000;
  driver::Driver drv(dc, **kernel);

  // Encrypted networks' userspace datapath (driver/userspace_plane.h): set
  // before start(), which re-attaches the encrypted networks it restores.
  std::unique_ptr<driver::UserspacePlane> plane;
  std::string planeOff;
  if (cfg->fakeKernel)
    planeOff = "the fake kernel has no data plane";
  else if (!keys)
    planeOff =
        "this host has no cluster key (it runs without ADVERTISE_ADDR, as a single host; the key that "
        "encrypted networks' keys derive from comes with ADVERTISE_ADDR and KEY or KEY_FILE)";
  else if (cfg->encryptedPort == cfg->vxlanPort)
    planeOff =
        "ENCRYPTED_PORT equals VXLAN_PORT (" + std::to_string(cfg->vxlanPort) + "); give it its own port";
  else if (auto key = gossip::parseKey(keys->keys.front()); !key.ok())
    planeOff = "the cluster key cannot be read: " + key.error().message;
  else {
    driver::UserspacePlaneConfig pcfg;
    pcfg.self = cfg->advertiseAddr;
    pcfg.port = cfg->encryptedPort;
    pcfg.key.assign(key->begin(), key->end());
    pcfg.epochFile = cfg->stateDir + "/datapath-epoch";
    pcfg.peersFile = cfg->stateDir + "/datapath-peers.json";
    auto started = driver::UserspacePlane::start(**kernel, pcfg);
    if (started.ok())
      plane = std::move(*started);
    else
      planeOff = "the userspace datapath cannot start: " + started.error().message;
  }
  if (!planeOff.empty()) LOG_INFO("plugin", "encrypted networks off: " << planeOff);
  drv.setEncryptedPlane(plane.get(), planeOff);
  if (kernelBackend) kernelBackend->attachTo(drv);
  driver::ReconcileReport report;
  if (auto st = drv.start(&report); !st) {
    std::fprintf(stderr, "weft-plugin: cannot start: %s\n", st.error().message.c_str());
    return 1;
  }

  plugin::Api api(drv);
  api.setHostWarnings(hostWarnings);
  // /weft.Crypto: the userspace datapath's status (or why it is off), and
  // per encrypted network and peer which backend carries it and why.
  api.setCryptoStatus(
      [p = plane.get(), &drv, planeOff, kb = kernelBackend.get()] {
        nlohmann::json j = p ? p->status() : nlohmann::json{{"backend", "off"}, {"reason", planeOff}};
        j["selection"] = drv.cryptoSelection();
        if (kb) j["kernel"] = kb->status();
        return j.dump();
      },
      planeOff);
  // weftctl crypto rotate: the userspace datapath's senders, and the kernel
  // backend's epoch (or why it is off, or when the rotation comes).
  if (plane || dc.kernelCryptoOff.empty())
    api.setCryptoRotate([p = plane.get(), &drv] {
      nlohmann::json j = p ? p->rotate() : nlohmann::json::object();
      auto k = drv.rotateKernelCrypto();
      j["kernel"] = k.ok() ? *k : nlohmann::json{{"error", k.error().message}};
      return j.dump();
    });

  // Names across hosts (issue 12): from the engine, shared through gossip,
  // answered in each network's sandbox. Off without the engine's socket.
  std::unique_ptr<engine::EngineClient> namesEngine;
  std::string namesOff;
  if (cfg->engineSocket.empty())
    namesOff = "ENGINE_SOCKET is empty: weft cannot learn containers' names";
  else if (cfg->fakeKernel)
    namesOff = "fake kernel: no sandbox to answer DNS in";
  else if (::access(cfg->engineSocket.c_str(), R_OK | W_OK) != 0)
    namesOff = "the engine's socket " + cfg->engineSocket + " is not accessible (" + std::strerror(errno) +
               "); grant it to weft (the managed plugin mounts the host's /run)";
  else
    namesEngine = std::make_unique<engine::EngineClient>(cfg->engineSocket);
  services::NameService names(
      **kernel, namesEngine.get(), namesOff,
      [&drv] {
        std::vector<services::LocalEndpoint> out;
        std::map<std::string, driver::Network> nets;
        for (auto& n : drv.networks()) nets.emplace(n.id, std::move(n));
        for (const auto& e : drv.endpoints()) {
          auto n = nets.find(e.networkId);
          if (!e.joined || n == nets.end()) continue;
          auto a4 = Prefix::parseHostOrPrefix(e.address);
          auto a6 = Prefix::parseHostOrPrefix(e.addressIpv6);
          out.push_back({e.networkId, n->second.identity, e.id, n->second.netns,
                         a4 ? std::optional<IpAddr>(a4->addr) : std::nullopt,
                         a6 ? std::optional<IpAddr>(a6->addr) : std::nullopt});
        }
        return out;
      },
      nullptr, services::NameConfig{});
  // The engine's events say when a container's names may have changed; the
  // name service polls only as a fallback while the stream is down.
  std::unique_ptr<engine::EventStream> namesEvents;
  if (namesEngine)
    namesEvents = std::make_unique<engine::EventStream>(
        cfg->engineSocket, [&names](const engine::EngineEvent& e) { names.engineEvent(e); },
        [&names](bool up) { names.engineStream(up); }, engine::EventStream::Config{});
  if (namesOff.empty())
    LOG_INFO("plugin", "names on: from the engine at " << cfg->engineSocket << ", answered at "
                                                       << services::kDnsAddress
                                                       << " in each network's sandbox");
  else
    LOG_INFO("plugin", "names off: " << namesOff);
  api.setNames(&names);

  // Multi-host: the gossip sidecar, when this host has an underlay address.
  std::unique_ptr<cluster::ProcessLauncher> sidecars;
  std::unique_ptr<cluster::Supervisor> gossip;
  // Multicast pruning (driver/mcast_pruner.h): declared after gossip, so it
  // stops before the cluster it publishes to goes.
  std::unique_ptr<kernel::BridgeMulticast> bridgeMcast;
  std::unique_ptr<driver::McastPruner> pruner;
  if (keys) {
    if (keys->generated)
      LOG_WARN("plugin", "generated a new cluster key in "
                             << keys->path
                             << ". Every weft host of this cluster needs the same key: copy that file to the "
                                "other hosts and start weft there with --key-file (WEFT_KEY_FILE), or pass "
                                "its content as WEFT_KEY");
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    std::string dir = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string(argv[0]);
    dir = dir.substr(0, dir.rfind('/'));
    // Config::load has checked that ADVERTISE_ADDR is an IP address.
    std::string hostPort = HostPort{*IpAddr::parse(cfg->advertiseAddr), cfg->gossipPort}.str();
    cluster::SupervisorOptions so;
    so.config.id = cfg->advertiseAddr;
    so.config.bind = hostPort;
    so.config.advertise = hostPort;
    so.config.label = "weft";
    so.config.keys = keys->keys;
    so.config.seeds = cfg->peers;
    so.port = cfg->gossipPort;
    so.livenessDeadline = std::chrono::seconds(cfg->sidecarDeadline);
    so.livenessInterval = std::min<cluster::Millis>(cluster::Millis(1000), so.livenessDeadline / 5);
    sidecars = std::make_unique<cluster::ProcessLauncher>(dir + "/weft-gossip", cfg->logLevel,
                                                          cfg->sidecarUid, cfg->sidecarGid, cfg->logFormat);
    gossip = std::make_unique<cluster::Supervisor>(so, *sidecars, drv);
    gossip->setNameSink(&names);
    names.setCluster(gossip.get());
    bridgeMcast = cfg->fakeKernel ? std::make_unique<kernel::FakeBridgeMulticast>(**kernel)
                                  : kernel::makeNetlinkBridgeMulticast(**kernel);
    pruner = std::make_unique<driver::McastPruner>(
        driver::McastPrunerConfig{cfg->mcastPruning, cfg->advertiseAddr, cfg->advertiseAddr}, **kernel,
        *bridgeMcast, [&drv] { return driver::mcastNetworks(drv); }, gossip.get());
    pruner->setEncryptedPlane(plane.get());
    gossip->setMcastSink(pruner.get());
    api.setMulticast([p = pruner.get()] { return p->view().dump(); });
    gossip->start();
    pruner->start();
    LOG_INFO("plugin", "multicast pruning " << (cfg->mcastPruning ? "on" : "off (MCAST_PRUNING=false)"));
    drv.setCluster(gossip.get());
    api.setSidecarRestarts([g = gossip.get()] { return static_cast<uint64_t>(g->restarts()); });
    api.setClusterStatus([g = gossip.get()]() -> Result<std::string> {
      auto s = g->status(std::chrono::milliseconds(2000));
      if (!s.ok()) return s.error();
      return cluster::ipc::encode(cluster::ipc::FromSidecar{*s});
    });
    LOG_INFO("plugin", "multi-host on: gossip at " << hostPort << ", " << cfg->peers.size()
                                                   << " peer(s), key from " << keys->source);
  } else {
    LOG_INFO("plugin", "multi-host off (no ADVERTISE_ADDR): networks stay on this host");
  }

  // Data-plane probes to the hosts this one shares networks with
  // (driver/prober.h), on their own thread: a round waits up to 1 s for
  // answers, which must hold up nothing else.
  std::unique_ptr<driver::Prober> prober;
  std::string proberOff;
  driver::ProberConfig pc;
  pc.net = {cfg->healthVni, cfg->vxlanPort, cfg->advertiseAddr};
  if (cfg->advertiseAddr.empty())
    proberOff = "single host (no ADVERTISE_ADDR): no other host to probe";
  else if (cfg->healthVni == 0)
    proberOff = "turned off (HEALTH_VNI=0)";
  else if (cfg->fakeKernel)
    proberOff = "fake kernel: no data plane to probe";
  else if (auto st = driver::Prober::validate(pc); !st)
    proberOff = st.error().message;
  if (proberOff.empty()) {
    prober = std::make_unique<driver::Prober>(**kernel, pc, [] { return std::chrono::system_clock::now(); });
    std::thread probes([&drv, p = prober.get(), g = gossip.get(), interval = pc.interval] {
      for (;;) {
        auto start = std::chrono::steady_clock::now();
        std::map<std::string, std::string> states;
        if (g)
          if (auto st = g->status(std::chrono::milliseconds(1000)); st.ok())
            for (const auto& m : st->members) states[m.id] = m.state;
        p->setGossipStates(std::move(states));
        p->round(drv.dataPlanePeers());
        std::this_thread::sleep_until(start + interval);
      }
    });
    probes.detach();
  } else {
    LOG_INFO("plugin", "data-plane probes off: " << proberOff);
    if (!cfg->fakeKernel) driver::removeHealthNet(**kernel);  // left from when they were on
  }
  api.setProber(prober.get(), proberOff);

  // Metrics read the driver and the supervisor at scrape time: the guard
  // detaches them (waiting for a scrape in progress) before either goes away.
  std::shared_ptr<metrics::Metrics> metrics;
  struct DetachSource {
    std::shared_ptr<metrics::Metrics>& m;
    ~DetachSource() {
      if (m) m->setSource({});
    }
  } detachMetrics{metrics};
  if (metricsServer) {
    metrics = std::make_shared<metrics::Metrics>(
        metrics::Options{plugin::kVersion, api.calls(), cfg->metricsPeerLabels});
    std::function<nlohmann::json()> crypto;
    if (plane) crypto = [p = plane.get()] { return p->status(); };
    metrics->setSource([&drv, g = gossip.get(), p = prober.get(), crypto] {
      return plugin::readSnapshot(plugin::MetricsSources{drv, g, p, crypto});
    });
    api.setMetrics(metrics.get());
    metricsServer->serve(metrics);
    LOG_INFO("plugin", "metrics at http://" << cfg->metricsAddr << "/metrics");
  }

  // Service VIPs on swarm networks: the engine tells the services, weft
  // programs them in its containers' namespaces.
  std::unique_ptr<engine::EngineClient> engineClient;
  std::unique_ptr<services::VipManager> vips;
  if (cfg->scope == "global" && !cfg->engineSocket.empty()) {
    engineClient = std::make_unique<engine::EngineClient>(cfg->engineSocket);
    services::VipConfig vc;
    vc.hostRunDir = cfg->hostRunDir;
    vips = std::make_unique<services::VipManager>(**kernel, *engineClient, vc);
    vips->start();
    api.setServiceVips(vips.get());
    LOG_INFO("plugin", "service VIPs on: services from the engine at " << cfg->engineSocket);
  }

  names.start();
  if (namesEvents) namesEvents->start();

  plugin::UnixHttpServer server;
  std::atomic<int> inflight{0};
  plugin::installRoutes(server, api, plugin::kMaxConnections, &inflight);  // one thread per connection
  if (auto st = server.bindUnix(cfg->socket); !st) {
    std::fprintf(stderr, "weft-plugin: %s\n", st.error().message.c_str());
    return 1;
  }
  // Started once nothing can fail any more (it outlives this function).
  // Veths that Leave took out of service are deleted here, in batches, off
  // the request path (deleting a veth waits ~20 ms on the kernel); every 2 s
  // it also looks for endpoints whose container died without Leave, and
  // retries networks that could not be restored (with their own backoff).
  // Remote endpoints' kernel entries that failed are retried from here too.
  std::thread reaper([&drv, p = plane.get(), kb = kernelBackend.get()] {
    for (unsigned tick = 1;; ++tick) {
      usleep(100000);
      drv.reapRetired();
      drv.syncPeers();   // retries of remote entries that could not be programmed
      drv.selfHeal();    // kernel drift: at once on a change notification, all every RECONCILE_INTERVAL
      if (p) p->tick();  // key epochs reserved ahead of use
      // The kernel backend's rotations and peers' graces, its retries.
      if (kb) kb->tick(drv, tick);
      if (tick % 20 == 0) {
        drv.sweepVanished();
        drv.repairFaulted();
      }
    }
  });
  reaper.detach();
  LOG_INFO("plugin", "weft-plugin " << plugin::kVersion << " serving on " << cfg->socket << " (scope "
                                    << cfg->scope << ", state " << cfg->stateDir
                                    << (cfg->fakeKernel ? ", fake kernel" : "") << ")");

  std::atomic<bool> stopping{false};
  std::thread signals([&server, &inflight, &cfg, &stopping, sigs, p = prober.get()] {
    int sig = 0;
    sigwait(&sigs, &sig);
    stopping = true;
    LOG_INFO("plugin", "signal " << sig << ": stopping");
    server.stop();  // no new connections
    if (p)
      if (auto st = p->stop(); !st)
        LOG_WARN("plugin", "removing the health namespace: " << st.error().message);
    // Let requests in progress finish (bounded), but do not wait for idle
    // keep-alive connections: every change is durable once answered, and
    // the kernel objects stay for the next start.
    for (int i = 0; i < 500 && inflight.load() > 0; ++i) usleep(10000);
    usleep(100000);  // the last answers are written right after their handler returns
    ::unlink(cfg->socket.c_str());
    LOG_INFO("plugin", "stopped; kernel objects and state stay for the next start");
    std::_Exit(0);
  });
  signals.detach();
  bool ok = server.serve();
  if (stopping) pause();  // the signal thread finishes the stop and exits
  ::unlink(cfg->socket.c_str());
  LOG_ERROR("plugin", "the HTTP server stopped unexpectedly");
  return ok ? 0 : 1;
}
}  // namespace
int main(int argc, char** argv) { return run(argc, argv); }
