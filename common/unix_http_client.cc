#include "common/unix_http_client.h"

#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstring>

#include "common/unix_socket.h"

namespace weft {

namespace {

constexpr size_t kMaxHead = 16 * 1024;

// A decimal or hex size without sign, overflow or trailing junk.
bool parseSize(const std::string& s, int base, size_t* out) {
  if (s.empty() || s.size() > 16) return false;
  size_t v = 0;
  for (char c : s) {
    int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
            : (base == 16 && std::isxdigit(static_cast<unsigned char>(c)))
                ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                : -1;
    if (d < 0) return false;
    v = v * base + static_cast<size_t>(d);
  }
  *out = v;
  return true;
}

}  // namespace

UnixHttpClient::UnixHttpClient(std::string socketPath, int timeoutMs, size_t maxBody)
    : path_(std::move(socketPath)), timeoutMs_(timeoutMs), maxBody_(maxBody) {}

UnixHttpClient::~UnixHttpClient() { close(); }

void UnixHttpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buf_.clear();
}

Status UnixHttpClient::connect() {
  close();
  auto fd = connectUnixStream(path_);
  if (!fd) return fd.error();
  fd_ = *fd;
  return Status::Ok();
}

Result<HttpResponse> UnixHttpClient::post(const std::string& path, const std::string& body) {
  std::string req = "POST " + path +
                    " HTTP/1.1\r\nHost: weft\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\n"
                    "Content-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  return raw(req);
}

Result<HttpResponse> UnixHttpClient::get(const std::string& path) {
  return raw("GET " + path + " HTTP/1.1\r\nHost: weft\r\nAccept: application/json\r\n\r\n");
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

Status UnixHttpClient::fill() {
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
}

Result<HttpResponse> UnixHttpClient::readResponse() {
  size_t hdrEnd;
  while ((hdrEnd = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (buf_.size() > kMaxHead) return Error{EMSGSIZE, "response header larger than 16 KiB"};
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
      if (strcasecmp(k.c_str(), "Content-Length") == 0 && !parseSize(v, 10, &contentLength))
        return Error{EPROTO, "malformed Content-Length"};
      if (strcasecmp(k.c_str(), "Content-Type") == 0) resp.contentType = v;
      if (strcasecmp(k.c_str(), "Transfer-Encoding") == 0 && v.find("chunked") != std::string::npos)
        chunked = true;
    }
    pos = next;
  }
  if (chunked) {
    auto body = readChunked();
    if (!body) return body.error();
    resp.body = std::move(*body);
    return resp;
  }
  if (contentLength > maxBody_)
    return Error{EMSGSIZE, "response body of " + std::to_string(contentLength) + " bytes (the most is " +
                               std::to_string(maxBody_) + ")"};
  while (buf_.size() < contentLength) {
    auto st = fill();
    if (!st) return st.error();
  }
  resp.body = buf_.substr(0, contentLength);
  buf_.erase(0, contentLength);
  return resp;
}

// Transfer-Encoding: chunked (RFC 9112 7.1): size line, data, CRLF, ...,
// a zero size, optional trailers, CRLF. Extensions after ';' are ignored.
Result<std::string> UnixHttpClient::readChunked() {
  std::string body;
  for (;;) {
    size_t eol;
    while ((eol = buf_.find("\r\n")) == std::string::npos) {
      if (buf_.size() > 256) return Error{EPROTO, "malformed chunk size line"};
      if (auto st = fill(); !st) return st.error();
    }
    std::string line = buf_.substr(0, eol);
    if (auto semi = line.find(';'); semi != std::string::npos) line.resize(semi);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    size_t size = 0;
    if (!parseSize(line, 16, &size)) return Error{EPROTO, "malformed chunk size"};
    buf_.erase(0, eol + 2);
    if (size == 0) break;
    if (size > maxBody_ || body.size() + size > maxBody_)
      return Error{EMSGSIZE, "response body larger than " + std::to_string(maxBody_) + " bytes"};
    while (buf_.size() < size + 2)
      if (auto st = fill(); !st) return st.error();
    if (buf_.compare(size, 2, "\r\n") != 0) return Error{EPROTO, "chunk not followed by CRLF"};
    body.append(buf_, 0, size);
    buf_.erase(0, size + 2);
  }
  // Trailers (ignored) up to the empty line.
  for (;;) {
    size_t eol;
    while ((eol = buf_.find("\r\n")) == std::string::npos) {
      if (buf_.size() > kMaxHead) return Error{EMSGSIZE, "trailers larger than 16 KiB"};
      if (auto st = fill(); !st) return st.error();
    }
    bool last = eol == 0;
    buf_.erase(0, eol + 2);
    if (last) return body;
  }
}

}  // namespace weft
