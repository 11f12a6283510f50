#include "common/unix_http_client.h"

#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace weft {

UnixHttpClient::UnixHttpClient(std::string socketPath, int timeoutMs)
    : path_(std::move(socketPath)), timeoutMs_(timeoutMs) {}

UnixHttpClient::~UnixHttpClient() { close(); }

void UnixHttpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buf_.clear();
}

Status UnixHttpClient::connect() {
  close();
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::fromErrno(errno, "socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(addr.sun_path)) {
    ::close(fd);
    return Error{ENAMETOOLONG, "socket path too long: " + path_};
  }
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    return Error::fromErrno(e, "connect " + path_);
  }
  fd_ = fd;
  return Status::Ok();
}

Result<HttpResponse> UnixHttpClient::post(const std::string& path, const std::string& body) {
  std::string req = "POST " + path +
                    " HTTP/1.1\r\nHost: weft\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\n"
                    "Content-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  return raw(req);
}

Result<HttpResponse> UnixHttpClient::raw(const std::string& request) {
  bool reused = fd_ >= 0;
  if (!reused) {
    auto st = connect();
    if (!st) return st.error();
  }
  auto r = roundTrip(request);
  if (!r.ok() && reused) {
    auto st = connect();
    if (!st) return st.error();
    r = roundTrip(request);
  }
  if (!r.ok()) close();
  return r;
}

Result<HttpResponse> UnixHttpClient::roundTrip(const std::string& request) {
  size_t off = 0;
  while (off < request.size()) {
    ssize_t n = ::send(fd_, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::fromErrno(errno, "send");
    }
    off += static_cast<size_t>(n);
  }
  return readResponse();
}

Result<HttpResponse> UnixHttpClient::readResponse() {
  auto fill = [this]() -> Status {
    pollfd p{fd_, POLLIN, 0};
    int pr = ::poll(&p, 1, timeoutMs_);
    if (pr == 0) return Error{ETIMEDOUT, "timed out waiting for response"};
    if (pr < 0) return Error::fromErrno(errno, "poll");
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n < 0) return Error::fromErrno(errno, "recv");
    if (n == 0) return Error{ECONNRESET, "connection closed by server"};
    buf_.append(tmp, static_cast<size_t>(n));
    return Status::Ok();
  };
  size_t hdrEnd;
  while ((hdrEnd = buf_.find("\r\n\r\n")) == std::string::npos) {
    auto st = fill();
    if (!st) return st.error();
  }
  std::string head = buf_.substr(0, hdrEnd);
  buf_.erase(0, hdrEnd + 4);
  HttpResponse resp;
  if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) return Error{EPROTO, "malformed status line"};
  resp.status = std::atoi(head.c_str() + 9);
  size_t contentLength = 0;
  bool chunked = false;
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    size_t next = head.find("\r\n", pos + 2);
    std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string k = line.substr(0, colon);
      std::string v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      if (strcasecmp(k.c_str(), "Content-Length") == 0) contentLength = std::stoul(v);
      if (strcasecmp(k.c_str(), "Content-Type") == 0) resp.contentType = v;
      if (strcasecmp(k.c_str(), "Transfer-Encoding") == 0 && v.find("chunked") != std::string::npos)
        chunked = true;
    }
    pos = next;
  }
  if (chunked) return Error{EPROTO, "chunked responses are not supported"};
  while (buf_.size() < contentLength) {
    auto st = fill();
    if (!st) return st.error();
  }
  resp.body = buf_.substr(0, contentLength);
  buf_.erase(0, contentLength);
  return resp;
}

}  // namespace weft
