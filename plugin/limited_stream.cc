#include "plugin/limited_stream.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace weft::plugin {

using std::chrono::milliseconds;

bool LimitedSocketStream::wait(short events, milliseconds timeout) const {
  auto until = std::min(deadline_, Clock::now() + timeout);
  for (;;) {
    auto left = std::chrono::ceil<milliseconds>(until - Clock::now()).count();
    pollfd p{fd_, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::max<decltype(left)>(left, 0)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
    if (Clock::now() >= until) return false;
  }
}

bool LimitedSocketStream::awaitRequest(milliseconds idle) {
  if (pos_ < end_) return true;
  deadline_ = Clock::time_point::max();
  if (!wait(POLLIN, idle)) return false;
  return fill();
}

void LimitedSocketStream::startRequest(Clock::time_point deadline) {
  deadline_ = deadline;
  limit_ = RequestLimit::kNone;
  inHeaders_ = true;
  headerBytes_ = headerLines_ = lineBytes_ = bodyBytes_ = 0;
  last_ = 0;
}

bool LimitedSocketStream::fill() {
  if (!wait(POLLIN, readTimeout_)) {
    if (Clock::now() >= deadline_) limit_ = RequestLimit::kDeadline;
    return false;
  }
  for (;;) {
    ssize_t n = ::recv(fd_, buf_, sizeof buf_, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    pos_ = 0;
    end_ = static_cast<size_t>(n);
    return true;
  }
}

size_t LimitedSocketStream::admit(size_t n) {
  size_t i = 0;
  // Headers: lines up to the empty one ("\r\n"), as httplib reads them.
  for (; inHeaders_ && i < n; ++i) {
    char c = buf_[pos_ + i];
    if (++headerBytes_ > kMaxHeaderBytes) {
      limit_ = RequestLimit::kHeaderBytes;
      return i;
    }
    ++lineBytes_;
    if (c == '\n') {
      bool blank = lineBytes_ == 2 && last_ == '\r';
      lineBytes_ = 0;
      if (blank && headerLines_ > 0) {
        inHeaders_ = false;                               // the body (if any) starts after this byte
      } else if (++headerLines_ > kMaxHeaderCount + 1) {  // + the request line
        limit_ = RequestLimit::kHeaderCount;
        return i;
      }
    }
    last_ = c;
  }
  if (inHeaders_) return i;
  size_t body = std::min(n - i, kMaxBodyWireBytes - bodyBytes_);
  bodyBytes_ += body;
  if (i + body < n) limit_ = RequestLimit::kBodyBytes;
  return i + body;
}

ssize_t LimitedSocketStream::read(char* ptr, size_t size) {
  if (limit_ != RequestLimit::kNone) return -1;
  if (Clock::now() >= deadline_) {
    limit_ = RequestLimit::kDeadline;
    return -1;
  }
  if (pos_ == end_ && !fill()) return -1;
  size_t n = admit(std::min(size, end_ - pos_));
  if (n == 0) return -1;  // a limit was hit
  std::memcpy(ptr, buf_ + pos_, n);
  pos_ += n;
  return static_cast<ssize_t>(n);
}

bool LimitedSocketStream::is_readable() const {
  if (limit_ != RequestLimit::kNone) return false;
  return pos_ < end_ || wait(POLLIN, readTimeout_);
}

bool LimitedSocketStream::is_writable() const {
  pollfd p{fd_, POLLOUT, 0};
  int r;
  do r = ::poll(&p, 1, static_cast<int>(writeTimeout_.count()));
  while (r < 0 && errno == EINTR);
  return r > 0;
}

ssize_t LimitedSocketStream::write(const char* ptr, size_t size) {
  if (!is_writable()) return -1;
  ssize_t n;
  do n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n > 0) written_ += static_cast<size_t>(n);
  return n;
}

void LimitedSocketStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  ip.clear();  // a unix socket
  port = 0;
}
void LimitedSocketStream::get_local_ip_and_port(std::string& ip, int& port) const {
  ip.clear();
  port = 0;
}

}  // namespace weft::plugin
