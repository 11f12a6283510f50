// NetlinkKernel: construction, per-namespace sockets, namespaces, probe.
// Links, addresses/routes, neighbours/FDB, sysctls and xfrm live in nl_*.cc.
#include "kernel/netlink_kernel.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "kernel/link_cache.h"
#include "kernel/netlink_internal.h"
#include "kernel/validate.h"

namespace weft::kernel {

NetlinkKernel::NetlinkKernel(std::string netnsDir, std::string keepDir)
    : netnsDir_(std::move(netnsDir)), keepDir_(std::move(keepDir)) {
  std::error_code ec;
  std::filesystem::create_directories(netnsDir_, ec);
  if (ec) throw std::runtime_error("creating namespace directory " + netnsDir_ + ": " + ec.message());
  if (!keepDir_.empty()) {
    std::filesystem::create_directories(keepDir_, ec);
    if (ec) throw std::runtime_error("creating namespace keep directory " + keepDir_ + ": " + ec.message());
  }
  // The constructing thread is in the host namespace: remember it, so every
  // later operation on the host namespace uses this one, whatever thread asks.
  hostNs_ = Fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!hostNs_) throw std::runtime_error(std::string("opening /proc/thread-self/ns/net: ") + strerror(errno));
}

NetlinkKernel::~NetlinkKernel() = default;

std::string NetlinkKernel::netnsPath(const Netns& name) const {
  if (name.empty()) return "/proc/self/ns/net";
  return netnsDir_ + "/" + name;
}

Result<Fd> NetlinkKernel::nsFd(const Netns& ns, const std::string& op) const {
  if (ns.empty()) {
    Fd fd(::fcntl(hostNs_.get(), F_DUPFD_CLOEXEC, 0));
    if (!fd) return Error::fromErrno(errno, op + ": duplicating host namespace fd");
    return fd;
  }
  if (auto s = checkNetnsName(op, ns); !s)
    return Error{ENOENT, op + ": namespace '" + ns + "' does not exist"};
  auto fd = openNetnsFile(netnsPath(ns));
  if (!fd) return Error{ENOENT, op + ": namespace '" + ns + "' does not exist"};
  return fd;
}

Result<NetlinkKernel::NsConn> NetlinkKernel::routeSocket(const Netns& ns, const std::string& op) {
  auto fd = nsFd(ns, op);
  if (!fd) return fd.error();
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return Error::fromErrno(errno, op + ": fstat namespace");
  std::lock_guard<std::mutex> lock(sockMu_);
  auto it = sockets_.find(ns);
  // The identity check drops a socket (and what it knew of the links) whose
  // namespace file now holds another namespace (deleted and re-created
  // behind our back).
  if (it != sockets_.end() && it->second.dev == st.st_dev && it->second.ino == st.st_ino)
    return it->second.conn;
  std::unique_ptr<nl::Socket> sock;
  Status s = runInNetns(fd->get(), [&]() -> Status {
    auto r = nl::Socket::open(NETLINK_ROUTE, &roundTrips_);
    if (!r) return r.error();
    sock = std::move(*r);
    return {};
  });
  if (!s) return Error{s.code(), op + ": " + s.error().message};
  NsConn conn{SocketPtr(std::move(sock)), std::make_shared<LinkCache>()};
  sockets_[ns] = CachedSocket{conn, st.st_dev, st.st_ino};
  return conn;
}

Result<NetlinkKernel::SocketPtr> NetlinkKernel::xfrmSocket() {
  std::lock_guard<std::mutex> lock(sockMu_);
  if (xfrm_) return xfrm_;
  std::unique_ptr<nl::Socket> sock;
  Status s = runInNetns(hostNs_.get(), [&]() -> Status {
    auto r = nl::Socket::open(NETLINK_XFRM, &roundTrips_);
    if (!r) return r.error();
    sock = std::move(*r);
    return {};
  });
  if (!s) return Error{s.code(), "opening NETLINK_XFRM socket: " + s.error().message};
  xfrm_ = SocketPtr(std::move(sock));
  return xfrm_;
}

void NetlinkKernel::dropSocket(const Netns& ns) {
  std::lock_guard<std::mutex> lock(sockMu_);
  sockets_.erase(ns);
}

void NetlinkKernel::forgetLink(const Netns& ns, const std::string& name) {
  std::lock_guard<std::mutex> lock(sockMu_);
  if (auto it = sockets_.find(ns); it != sockets_.end()) it->second.conn.links->forget(name);
}

// --- namespaces ---

Status NetlinkKernel::createNetnsAt(const std::string& path) {
  {
    Fd existing(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (existing && isNetnsFd(existing.get()))
      return Error{EEXIST, "createNetns: namespace file " + path + " already holds a namespace"};
  }
  // A plain file left by a reboot or crash is reused as the mount point.
  Fd file(::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0444));
  if (!file) return Error::fromErrno(errno, "createNetns: creating " + path);
  file = Fd();
  if (auto s = mountNewNetns(path); !s) {
    ::unlink(path.c_str());
    return Error{s.code(), "createNetns: " + s.error().message};
  }
  if (!keepDir_.empty()) {
    std::string twin = keepDir_ + path.substr(path.rfind('/'));
    if (auto s = bindNetnsFile(path, twin); !s) {
      removeNetnsFile(path);  // nothing half-made: the namespace goes with it
      return Error{s.code(), "createNetns: keeping a second mount: " + s.error().message};
    }
  }
  return {};
}

Result<NetlinkKernel::KeepReport> NetlinkKernel::adoptKeptNamespaces() {
  KeepReport r;
  if (keepDir_.empty()) return r;
  std::lock_guard<std::mutex> lock(nsMu_);
  auto names = [](const std::string& dir) -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
    if (!d) return Error::fromErrno(errno, "adoptKeptNamespaces: opening " + dir);
    while (dirent* e = ::readdir(d.get()))
      if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    return out;
  };
  auto kept = names(keepDir_);
  if (!kept) return kept.error();
  for (const auto& name : *kept) {
    const std::string twin = keepDir_ + "/" + name, path = netnsDir_ + "/" + name;
    if (!openNetnsFile(twin)) {
      if (auto s = removeNetnsFile(twin); !s)
        return Error{s.code(), "adoptKeptNamespaces: " + s.error().message};
      continue;
    }
    if (openNetnsFile(path)) continue;
    if (auto s = bindNetnsFile(twin, path); !s)
      return Error{s.code(), "adoptKeptNamespaces: " + s.error().message};
    ++r.restored;
  }
  auto live = names(netnsDir_);
  if (!live) return live.error();
  for (const auto& name : *live) {
    const std::string twin = keepDir_ + "/" + name, path = netnsDir_ + "/" + name;
    if (!openNetnsFile(path) || openNetnsFile(twin)) continue;
    if (auto s = bindNetnsFile(path, twin); !s)
      return Error{s.code(), "adoptKeptNamespaces: " + s.error().message};
    ++r.kept;
  }
  return r;
}

Status NetlinkKernel::createNetns(const Netns& name) {
  if (auto s = checkNetnsName("createNetns", name); !s) return s;
  std::lock_guard<std::mutex> lock(nsMu_);
  return createNetnsAt(netnsPath(name));
}

Status NetlinkKernel::deleteNetns(const Netns& name) {
  if (auto s = checkNetnsName("deleteNetns", name); !s) return s;
  std::lock_guard<std::mutex> lock(nsMu_);
  const std::string path = netnsPath(name);
  const std::string twin = keepDir_.empty() ? "" : keepDir_ + "/" + name;
  auto fd = openNetnsFile(path);
  if (!fd) {
    ::unlink(path.c_str());  // a stale plain file, if any
    if (!twin.empty()) removeNetnsFile(twin);
    dropSocket(name);
    return Error{ENOENT, "deleteNetns: namespace '" + name + "' does not exist"};
  }
  // Delete the links first, synchronously: the namespace itself is torn down
  // by the kernel asynchronously once the last reference goes, and until then
  // veth peers elsewhere and VXLAN VNIs (registered in the host) would linger.
  auto sock = routeSocket(name, "deleteNetns");
  if (!sock) return sock.error();
  auto links = listLinks(name);
  if (!links) return links.error();
  for (const LinkInfo& l : *links) {
    if (l.name == "lo") continue;
    Status s = deleteLinkWith(**sock, l.name, "deleteNetns " + name);
    if (!s.okOr(ENOENT)) return s;  // ENOENT: a veth peer gone with its other end
  }
  dropSocket(name);
  fd = Fd();
  if (!twin.empty())
    if (auto s = removeNetnsFile(twin); !s) return Error{s.code(), "deleteNetns: " + s.error().message};
  if (auto s = removeNetnsFile(path); !s) return Error{s.code(), "deleteNetns: " + s.error().message};
  return {};
}

Result<std::vector<Netns>> NetlinkKernel::listNetns() {
  std::vector<Netns> out;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(netnsDir_.c_str()), ::closedir);
  if (!dir) return Error::fromErrno(errno, "listNetns: opening " + netnsDir_);
  while (dirent* e = ::readdir(dir.get())) {
    std::string name = e->d_name;
    if (name.empty() || name[0] == '.') continue;  // also hides probe namespaces
    if (openNetnsFile(netnsDir_ + "/" + name)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace weft::kernel
