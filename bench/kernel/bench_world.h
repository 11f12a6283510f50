#pragma once
// Shared by the kernel benches (header-only, so bench/kernel/
// remote_endpoints_bench.sh can build a bench against an older revision):
// fatal-error helpers, flag parsing, and a throwaway world — the process's
// own network and mount namespaces, a state directory, an underlay.

#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "common/result.h"
#include "kernel/kernel.h"

namespace weft::bench {

struct BenchInfo {
  std::string program = "bench";
  std::string stateDir;  // removed by die() and removeStateDir()
};
inline BenchInfo& info() {
  static BenchInfo i;
  return i;
}

// Removes the state directory, detaching the namespace mounts in it first
// (the mount namespace ends with the process, but the directory would not).
inline void removeStateDir() {
  if (info().stateDir.empty()) return;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(info().stateDir + "/netns", ec))
    ::umount2(e.path().c_str(), MNT_DETACH);
  std::filesystem::remove_all(info().stateDir, ec);
  info().stateDir.clear();
}

[[noreturn]] inline void die(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", info().program.c_str(), what.c_str());
  removeStateDir();
  std::exit(2);
}
inline void check(const Status& s, const std::string& what) {
  if (!s.ok()) die(what + ": " + s.error().message);
}
template <class T>
T check(Result<T> r, const std::string& what) {
  if (!r.ok()) die(what + ": " + r.error().message);
  return std::move(*r);
}

// CPU time (user + system) of every thread of this process so far, in seconds.
inline double cpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return s(u.ru_utime) + s(u.ru_stime);
}

// "--flag value" pairs; -h/--help prints usage and exits 0, anything else dies.
inline void parseFlags(int argc, char** argv,
                       const std::map<std::string, std::function<void(const std::string&)>>& flags,
                       const std::string& usage) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::puts(usage.c_str());
      std::exit(0);
    }
    auto f = flags.find(a);
    if (f == flags.end()) die("unknown argument " + a);
    if (i + 1 >= argc) die("missing value after " + a);
    f->second(argv[++i]);
  }
}

// Our own network and mount namespaces: every link, namespace and mount made
// afterwards dies with this process. Returns a fresh state directory under
// stateParent (removed by die() and removeStateDir()).
inline std::string enterThrowawayWorld(const std::string& stateParent) {
  if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) die(std::string("unshare: ") + std::strerror(errno));
  if (::mount("", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    die(std::string("make / rprivate: ") + std::strerror(errno));
  std::string tmpl = stateParent + "/" + info().program + ".XXXXXX";
  if (!::mkdtemp(tmpl.data())) die(std::string("mkdtemp: ") + std::strerror(errno));
  info().stateDir = tmpl;
  return tmpl;
}

// The underlay: a veth pair whose host end holds 198.18.0.1/24 (this kernel
// may have no dummy module), its peer in namespace `underNs`.
inline void makeUnderlay(kernel::Kernel& k, const std::string& underNs) {
  check(k.createNetns(underNs), "createNetns underlay");
  check(k.setLinkUp(kernel::kHostNetns, "lo", true), "lo up");
  check(k.createVeth(kernel::kHostNetns, "ul0", underNs, "ul1", 1500), "underlay veth");
  check(k.addAddress(kernel::kHostNetns, "ul0", "198.18.0.1/24"), "underlay address");
  check(k.setLinkUp(kernel::kHostNetns, "ul0", true), "underlay up");
  check(k.setLinkUp(underNs, "ul1", true), "underlay peer up");
}

}  // namespace weft::bench
