#include "plugin/unix_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "common/json_file.h"
#include "plugin/api.h"
#include "plugin/connection_pool.h"
#include "plugin/limited_stream.h"

namespace weft::plugin {

namespace {
thread_local const LimitedSocketStream* tl_stream = nullptr;

// The answer to a request httplib gave none to (it stops without one when
// the request line itself cannot be read).
void writeLimitReply(httplib::Stream& strm, RequestLimit limit) {
  auto r = limitReply(limit);
  std::string body = Api::errorBody("", r.message);
  strm.write("HTTP/1.1 " + std::to_string(r.status) + " " + r.reason + "\r\nContent-Type: " + kContentType +
             "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
}
}  // namespace

RequestLimit currentRequestLimit() { return tl_stream ? tl_stream->limitHit() : RequestLimit::kNone; }

bool UnixHttpServer::process_and_close_socket(socket_t sock) {
  using namespace std::chrono;
  LimitedSocketStream strm(
      sock, duration_cast<milliseconds>(seconds(read_timeout_sec_) + microseconds(read_timeout_usec_)),
      duration_cast<milliseconds>(seconds(write_timeout_sec_) + microseconds(write_timeout_usec_)));
  bool ok = false;
  if (ConnectionPool::overloaded()) {
    writeLimitReply(strm, RequestLimit::kBusy);
  } else {
    tl_stream = &strm;
    for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
      if (!strm.awaitRequest(seconds(keep_alive_timeout_sec_))) break;
      strm.startRequest(steady_clock::now() + kRequestDeadline);
      size_t written = strm.bytesWritten();
      bool closed = false;
      ok = process_request(strm, left == 1, closed, nullptr);
      if (strm.limitHit() != RequestLimit::kNone) {
        if (strm.bytesWritten() == written) writeLimitReply(strm, strm.limitHit());
        break;  // the rest of the request is unread: this connection cannot go on
      }
      if (!ok || closed) break;
    }
    tl_stream = nullptr;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

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
