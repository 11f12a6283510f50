#include "plugin/unix_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "common/json_file.h"

namespace weft::plugin {

Status UnixHttpServer::bindUnix(const std::string& path, int mode) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return Error{ENAMETOOLONG, "socket path too long: " + path};
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0)
    if (auto st = makeDirs(path.substr(0, slash), 0755); !st) return st;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Error{EEXIST, path + " exists and is not a socket"};
    // Is someone serving on it?
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (probe >= 0) ::close(probe);
    if (live) return Error{EADDRINUSE, "another process is serving on " + path};
    ::unlink(path.c_str());
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::fromErrno(errno, "socket");
  addr = {};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    return Error::fromErrno(e, "bind " + path);
  }
  ::chmod(path.c_str(), static_cast<mode_t>(mode));
  if (::listen(fd, 128) != 0) {
    int e = errno;
    ::close(fd);
    return Error::fromErrno(e, "listen " + path);
  }
  svr_sock_ = fd;
  return Status::Ok();
}

}  // namespace weft::plugin
