#include "kernel/netns_util.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>

namespace weft::kernel {

bool isNetnsFd(int fd) { return ::ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET; }

Result<Fd> openNetnsFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    int err = errno == ENOTDIR ? ENOENT : errno;
    return Error::fromErrno(err, "namespace file " + path);
  }
  if (!isNetnsFd(fd.get()))
    return Error{ENOENT, "namespace file " + path + " is not a mounted network namespace"};
  return fd;
}

static Status runInThread(const std::function<Status()>& fn) {
  Status result;
  std::thread t([&] { result = fn(); });
  t.join();
  return result;
}

Status runInNetns(int nsFd, const std::function<Status()>& fn) {
  return runInThread([&]() -> Status {
    if (::setns(nsFd, CLONE_NEWNET) != 0) return Error::fromErrno(errno, "setns into network namespace");
    return fn();
  });
}

Status mountNewNetns(const std::string& path) {
  return runInThread([&]() -> Status {
    if (::unshare(CLONE_NEWNET) != 0) return Error::fromErrno(errno, "unshare(CLONE_NEWNET)");
    if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0)
      return Error::fromErrno(errno, "bind-mounting the new namespace onto " + path);
    return {};
  });
}

Status bindNetnsFile(const std::string& from, const std::string& to) {
  Fd file(::open(to.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0444));
  if (!file) return Error::fromErrno(errno, "creating " + to);
  file = Fd();
  if (::mount(from.c_str(), to.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    int err = errno;
    ::unlink(to.c_str());
    return Error::fromErrno(err, "bind-mounting " + from + " onto " + to);
  }
  return {};
}

Status removeNetnsFile(const std::string& path) {
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    return Error::fromErrno(errno, "unmounting " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error::fromErrno(errno, "removing " + path);
  return {};
}

Result<bool> onSharedMount(const std::string& path) {
  std::ifstream mi("/proc/self/mountinfo");
  if (!mi) return Error::fromErrno(errno, "reading /proc/self/mountinfo");
  std::string line, best;
  bool shared = false, found = false;
  while (std::getline(mi, line)) {
    std::istringstream ls(line);
    std::string id, parent, dev, root, mnt, opts, field;
    ls >> id >> parent >> dev >> root >> mnt >> opts;
    bool under =
        path == mnt || mnt == "/" ||
        (path.size() > mnt.size() && path.compare(0, mnt.size(), mnt) == 0 && path[mnt.size()] == '/');
    // The longest mount point holding `path` wins; of equal ones, the last
    // listed (the one on top).
    if (!under || mnt.size() < best.size()) continue;
    best = mnt;
    found = true;
    shared = false;
    while (ls >> field && field != "-")
      if (field.rfind("shared:", 0) == 0) shared = true;
  }
  if (!found) return Error{ENOENT, "no mount holds " + path};
  return shared;
}

Status runInThrowawayNetns(const std::function<Status()>& fn) {
  return runInThread([&]() -> Status {
    if (::unshare(CLONE_NEWNET) != 0) return Error::fromErrno(errno, "unshare(CLONE_NEWNET)");
    return fn();
  });
}

}  // namespace weft::kernel
