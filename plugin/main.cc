// weft-plugin: serves Docker's NetworkDriver and IpamDriver protocols on a
// unix socket.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include "common/json_file.h"
#include "common/log.h"
#include "driver/driver.h"
#include "plugin/kernel_select.h"
#include "plugin/api.h"
#include "plugin/config.h"
#include "plugin/http_service.h"
#include "plugin/unix_server.h"
#include "plugin/version.h"

extern char** environ;

namespace {
using namespace weft;

int run(int argc, char** argv) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  auto cfg = plugin::parseConfig(argc, argv, env);
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
  log::Level lvl;
  log::parseLevel(cfg->logLevel, &lvl);
  log::setLevel(lvl);

  // Block the stop signals in every thread; one thread waits for them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (auto st = makeDirs(cfg->stateDir, 0700); !st) {
    std::fprintf(stderr, "weft-plugin: state directory: %s\n", st.error().message.c_str());
    return 1;
  }
  std::string netnsDir = cfg->stateDir + "/netns";
  auto kernel = plugin::makeKernel(cfg->fakeKernel, netnsDir);
  if (!kernel.ok()) {
    std::fprintf(stderr, "weft-plugin: %s\n", kernel.error().message.c_str());
    return 1;
  }
  if (auto st = (*kernel)->probe(); !st) {
    if (st.code() != EPROTONOSUPPORT) {
      std::fprintf(stderr, "weft-plugin: this kernel cannot run weft: %s\n", st.error().message.c_str());
      return 1;
    }
    // Only IPsec is missing: unencrypted networks work.
    LOG_WARN("plugin", "encrypted networks will not work on this host: " << st.error().message);
  }

  driver::DriverConfig dc;
  dc.stateDir = cfg->stateDir;
  dc.scope = cfg->scope;
  dc.advertiseAddr = cfg->advertiseAddr;
  dc.vxlanPort = cfg->vxlanPort;
  dc.defaultMtu = cfg->mtu;
  driver::Driver drv(dc, **kernel);
  driver::ReconcileReport report;
  if (auto st = drv.start(&report); !st) {
    std::fprintf(stderr, "weft-plugin: cannot start: %s\n", st.error().message.c_str());
    return 1;
  }

  plugin::Api api(drv);
  plugin::UnixHttpServer server;
  std::atomic<int> inflight{0};
  plugin::installRoutes(server, api, 32, &inflight);  // one thread per open connection
  if (auto st = server.bindUnix(cfg->socket); !st) {
    std::fprintf(stderr, "weft-plugin: %s\n", st.error().message.c_str());
    return 1;
  }
  LOG_INFO("plugin", "weft-plugin " << plugin::kVersion << " serving on " << cfg->socket << " (scope "
                                    << cfg->scope << ", state " << cfg->stateDir
                                    << (cfg->fakeKernel ? ", fake kernel" : "") << ")");

  std::thread signals([&server, &inflight, &cfg, sigs] {
    int sig = 0;
    sigwait(&sigs, &sig);
    LOG_INFO("plugin", "signal " << sig << ": stopping");
    server.stop();  // no new connections
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
  ::unlink(cfg->socket.c_str());
  LOG_ERROR("plugin", "the HTTP server stopped unexpectedly");
  return ok ? 0 : 1;
}
}  // namespace
int main(int argc, char** argv) { return run(argc, argv); }
