#include "kernel/netns_util.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace weft::kernel {

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

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

Status runInThrowawayNetns(const std::function<Status()>& fn) {
  return runInThread([&]() -> Status {
    if (::unshare(CLONE_NEWNET) != 0) return Error::fromErrno(errno, "unshare(CLONE_NEWNET)");
    return fn();
  });
}

}  // namespace weft::kernel
