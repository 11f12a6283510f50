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
// 3. Namespaces that outlive the plugin. weft keeps each network's sandbox
//    namespace alive with a bind mount in <STATE_DIR>/netns (/var/lib/weft,
//    the propagatedMount, so the mounts also live in dockerd's
//    /var/lib/docker/plugins/<id>/propagated-mount). When the plugin crashes
//    Docker restarts it and those mounts stay. But when it stops for good
//    (`docker plugin disable`, and so before every `upgrade`), Docker 20.10
//    runs RecursiveUnmount on /var/lib/docker/plugins/<id>/: the namespaces
//    die, and with them every container's weft interface. So this keeps a
//    second, independent bind mount of each namespace in the host's
//    /run/weft/netns (config.json mount "hostrun": the host's /run at
//    /host/run, rbind+rshared), which dockerd never unmounts:
//    * it mirrors: whenever the mount table changes (poll on
//      /proc/self/mountinfo, and every 2 s), every nsfs mount in
//      <STATE_DIR>/netns gets a twin in /host/run/weft/netns, and twins
//      whose original is gone (weft deleted the network, or removed a stale
//      one at start) are unmounted and removed;
//    * at start, before weft runs, each twin whose original is missing is
//      bound back into <STATE_DIR>/netns, so weft adopts the namespace.
//    /run is a tmpfs: twins do not outlive a reboot (weft's state does, and
//    its reconcile rebuilds the namespaces). The host's /run must be a
//    shared mount (systemd's default); if it is not, the twins live only in
//    the plugin's own mount namespace: harmless, but then `disable`/`upgrade`
//    still cut the traffic of running containers.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

static const char* const kSettings[] = {
    "SCOPE",    "ADVERTISE_ADDR", "PEERS",     "GOSSIP_PORT", "VXLAN_PORT", "KEY",
    "KEY_FILE", "MTU",            "LOG_LEVEL", "STATE_DIR",   "SOCKET",     "FAKE_KERNEL",
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

static void warn(const std::string& m) { std::fprintf(stderr, "weft-managed-entry: %s\n", m.c_str()); }

// The optional fields ("shared:N", "master:N") of the mount at `target`
// in this mount namespace; empty when nothing is mounted there.
static bool mountInfo(const std::string& target, std::string* fields) {
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  bool found = false;
  while (std::getline(mi, line)) {
    std::istringstream ls(line);
    std::string id, parent, dev, root, mnt, opts, f, opt;
    ls >> id >> parent >> dev >> root >> mnt >> opts;
    if (mnt != target) continue;
    found = true;  // the last one listed is the one on top
    fields->clear();
    while (ls >> f && f != "-") *fields += f + " ";
  }
  return found;
}

static int mkdirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      std::string p = path.substr(0, i);
      if (::mkdir(p.c_str(), 0700) != 0 && errno != EEXIST) return -1;
    }
  }
  return 0;
}

// ---- section 3 of the header

struct Mirror {
  std::string src;     // <STATE_DIR>/netns (weft's)
  std::string twin;    // /host/run/weft/netns
  bool on = false;
};

// Names of the nsfs mounts directly in `dir`, from /proc/self/mountinfo.
static std::set<std::string> nsfsMountsIn(const std::string& dir) {
  std::set<std::string> out;
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mi, line)) {
    std::istringstream ls(line);
    std::string id, parent, dev, root, mnt, f, fstype;
    ls >> id >> parent >> dev >> root >> mnt;
    while (ls >> f && f != "-") {}
    ls >> fstype;
    if (fstype != "nsfs" || mnt.size() <= dir.size() + 1 || mnt.compare(0, dir.size() + 1, dir + "/") != 0) continue;
    std::string name = mnt.substr(dir.size() + 1);
    if (name.find('/') == std::string::npos) out.insert(name);
  }
  return out;
}

// bind-mounts file `from` on file `to` (created if missing).
static bool bindFile(const std::string& from, const std::string& to) {
  int fd = ::open(to.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    warn("creating " + to + ": " + std::strerror(errno));
    return false;
  }
  ::close(fd);
  if (::mount(from.c_str(), to.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    warn("bind-mounting " + from + " on " + to + ": " + std::strerror(errno));
    return false;
  }
  return true;
}

static Mirror setupMirror() {
  Mirror m;
  const char* stateEnv = std::getenv("WEFT_STATE_DIR");
  std::string state = stateEnv && *stateEnv ? stateEnv : "/var/lib/weft";
  m.src = state + "/netns";
  m.twin = "/host/run/weft/netns";
  std::string fields;
  if (!mountInfo("/host/run", &fields)) {
    warn("no host /run at /host/run (config.json mount \"hostrun\"): `docker plugin disable`/`upgrade` "
         "will cut the traffic of running containers");
    return m;
  }
  if (mkdirs(m.twin) != 0 || mkdirs(m.src) != 0) {
    warn("creating " + m.twin + " or " + m.src + ": " + std::strerror(errno));
    return m;
  }
  m.on = true;
  // Restore: twins whose original is missing (the plugin was disabled).
  auto have = nsfsMountsIn(m.src);
  int restored = 0;
  for (const auto& name : nsfsMountsIn(m.twin))
    if (!have.count(name) && bindFile(m.twin + "/" + name, m.src + "/" + name)) ++restored;
  std::fprintf(stderr, "weft-managed-entry: network namespaces are mirrored in the host's /run/weft/netns (%d restored)\n",
               restored);
  return m;
}

static void syncMirror(const Mirror& m) {
  if (!m.on) return;
  auto src = nsfsMountsIn(m.src), twin = nsfsMountsIn(m.twin);
  for (const auto& name : src)
    if (!twin.count(name)) bindFile(m.src + "/" + name, m.twin + "/" + name);
  for (const auto& name : twin) {
    if (src.count(name)) continue;
    std::string t = m.twin + "/" + name;
    if (::umount2(t.c_str(), MNT_DETACH) != 0) warn("unmounting " + t + ": " + std::strerror(errno));
    ::unlink(t.c_str());
  }
}

// Waits up to `ms` for the mount table to change (POLLPRI on mountinfo).
static bool mountsChanged(int fd, int ms) {
  if (fd < 0) {
    ::poll(nullptr, 0, ms);
    return false;
  }
  pollfd p = {fd, POLLPRI, 0};
  int n = ::poll(&p, 1, ms);
  if (n > 0 && (p.revents & (POLLPRI | POLLERR))) {
    char buf[4096];
    ::lseek(fd, 0, SEEK_SET);
    while (::read(fd, buf, sizeof buf) > 0) {}  // re-arms the notification
    return true;
  }
  return false;
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
  Mirror mirror = setupMirror();

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

  int mountFd = mirror.on ? ::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC) : -1;
  long nextSync = 0;
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
    // Signals are blocked; take pending ones, then wait for a change of
    // the mount table (or a signal, at most 200 ms).
    timespec zero = {0, 0};
    for (int sig; (sig = sigtimedwait(&set, nullptr, &zero)) > 0;)
      if (sig != SIGCHLD && !childDone) ::kill(child, sig);
    if (!childDone) {
      if (mountsChanged(mountFd, 200) || nowMs() >= nextSync) {
        syncMirror(mirror);
        nextSync = nowMs() + 2000;
      }
    } else {
      timespec wait = {0, 200 * 1000 * 1000};
      sigtimedwait(&set, nullptr, &wait);
    }
  }
done:
  return status;
}
