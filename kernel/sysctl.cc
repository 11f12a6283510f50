// NetlinkKernel: sysctls. /proc/sys/net shows the network namespace of the
// task that opens the file, so files are opened from a short-lived thread
// that setns()ed into the namespace.
#include <fcntl.h>
#include <unistd.h>

#include "kernel/netlink_kernel.h"
#include "kernel/validate.h"

namespace weft::kernel {

Status NetlinkKernel::setSysctl(const Netns& ns, const std::string& key, const std::string& value) {
  if (auto s = checkSysctlKey("setSysctl", key); !s) return s;
  auto fd = nsFd(ns, "setSysctl");
  if (!fd) return fd.error();
  const std::string path = "/proc/sys/" + key;
  return runInNetns(fd->get(), [&]() -> Status {
    Fd f(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!f) return Error::fromErrno(errno, "setSysctl " + key);
    ssize_t n = ::write(f.get(), value.data(), value.size());
    if (n < 0) return Error::fromErrno(errno, "setSysctl " + key + "=" + value);
    if (static_cast<size_t>(n) != value.size()) return Error{EIO, "setSysctl " + key + ": short write"};
    return {};
  });
}

Result<std::string> NetlinkKernel::getSysctl(const Netns& ns, const std::string& key) {
  if (auto s = checkSysctlKey("getSysctl", key); !s) return s.error();
  auto fd = nsFd(ns, "getSysctl");
  if (!fd) return fd.error();
  const std::string path = "/proc/sys/" + key;
  std::string value;
  Status s = runInNetns(fd->get(), [&]() -> Status {
    Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!f) return Error::fromErrno(errno, "getSysctl " + key);
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(f.get(), buf, sizeof buf);
      if (n < 0) return Error::fromErrno(errno, "getSysctl " + key);
      if (n == 0) break;
      value.append(buf, static_cast<size_t>(n));
    }
    return {};
  });
  if (!s) return s.error();
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  return value;
}

}  // namespace weft::kernel
