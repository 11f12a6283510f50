// weft-managed-entry: the managed plugin's entrypoint (process 1 of the
// plugin's pid namespace).
//
//   weft-managed-entry /usr/bin/weft-plugin [flags...]
//   weft-managed-entry --list          (the setting names it maps)
//
// 1. Settings. `docker plugin set weft NAME=value` sets the environment
//    variable NAME, as declared in config.json's "env"; weft-plugin reads
//    WEFT_<NAME>. Each of weft's settings NAME is copied to WEFT_NAME (unless
//    WEFT_NAME is already set) and NAME is removed. The names are
//    weft-plugin's settings (plugin/config.cc); tests/e2e/managed_config_check.sh
//    checks that this list, config.json's env and `weft-plugin --help` agree.
//
// 2. Process 1. The plugin runs in its own pid namespace. weft-plugin must
//    not be process 1 there: its weft-gossip sidecar takes "my parent is
//    pid 1" to mean "the plugin died" and exits, and process 1 gets no
//    default signal actions. So this stays process 1: it runs weft-plugin
//    as its child, passes SIGTERM/SIGINT/SIGHUP/SIGQUIT on to it, reaps
//    every orphan, and when weft-plugin exits, gives the other children
//    (the sidecar leaving the cluster) up to 3 s, then exits with
//    weft-plugin's status (128+signal if it was killed).
//
// Namespaces that outlive `docker plugin disable`/`upgrade` are weft's own
// business (NETNS_KEEP_DIR, set in config.json to the host's /run/weft/netns
// as mounted at /host/run).
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

static const char* const kSettings[] = {
    "SCOPE",
    "ADVERTISE_ADDR",
    "PEERS",
    "GOSSIP_PORT",
    "VXLAN_PORT",
    "KEY",
    "KEY_FILE",
    "MTU",
    "HEALTH_VNI",
    "LOG_LEVEL",
    "STATE_DIR",
    "NETNS_KEEP_DIR",
    "SOCKET",
    "FAKE_KERNEL",
    "SIDECAR_USER",
    "SIDECAR_DEADLINE",
    "METRICS_ADDR",
    "METRICS_PEER_LABELS",
    "LOG_FORMAT",
    "ENGINE_SOCKET",
    "HOST_RUN_DIR",
    "ENCRYPTED_PORT",
    "ESP_PORT",
    "RECONCILE_INTERVAL",
    "IPAM_RECLAIM_GRACE",
    "MCAST_PRUNING",
};

static int mapSettings() {
  for (const char* s : kSettings) {
    const char* v = std::getenv(s);
    if (!v) continue;
    std::string name = std::string("WEFT_") + s;
    if (!std::getenv(name.c_str()) && ::setenv(name.c_str(), v, 1) != 0) {
      std::fprintf(stderr, "weft-managed-entry: setenv %s: %s\n", name.c_str(), std::strerror(errno));
      return -1;
    }
    ::unsetenv(s);  // one source of truth for the child (and no KEY under a generic name)
  }
  return 0;
}

static long nowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--list") == 0) {
    for (const char* s : kSettings) std::printf("%s\n", s);
    return 0;
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: weft-managed-entry PROGRAM [ARGS...] | --list\n");
    return 2;
  }
  if (mapSettings() != 0) return 1;

  static const int kForward[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
  sigset_t set, old;
  sigemptyset(&set);
  for (int s : kForward) sigaddset(&set, s);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, &old);

  pid_t child = ::fork();
  if (child < 0) {
    std::fprintf(stderr, "weft-managed-entry: fork: %s\n", std::strerror(errno));
    return 1;
  }
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &old, nullptr);
    ::execv(argv[1], argv + 1);
    std::fprintf(stderr, "weft-managed-entry: exec %s: %s\n", argv[1], std::strerror(errno));
    ::_exit(127);
  }

  int status = 0;
  bool childDone = false;
  long deadline = 0;
  for (;;) {
    // Reap whatever has exited.
    for (;;) {
      int st;
      pid_t p = ::waitpid(-1, &st, WNOHANG);
      if (p <= 0) {
        if (p < 0 && errno == ECHILD && childDone) goto done;  // nobody left
        break;
      }
      if (p == child) {
        childDone = true;
        status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        deadline = nowMs() + 3000;
      }
    }
    if (childDone && nowMs() >= deadline) break;
    // Signals are blocked: wait for one (SIGCHLD included), at most 200 ms.
    timespec wait = {0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&set, nullptr, &wait);
    if (sig > 0 && sig != SIGCHLD && !childDone) ::kill(child, sig);
  }
done:
  return status;
}
