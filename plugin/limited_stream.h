#pragma once
// An httplib::Stream over a connected socket that holds each request to the
// limits of request_limits.h while httplib parses it: it hands out no header
// byte past kMaxHeaderBytes or kMaxHeaderCount lines, no body byte past
// kMaxBodyWireBytes, and nothing after the request's deadline. Past a limit
// every read fails, and limitHit() says which limit it was.

#include <httplib.h>

#include <chrono>
#include <string>

#include "plugin/request_limits.h"

namespace weft::plugin {

class LimitedSocketStream : public httplib::Stream {
 public:
  using Clock = std::chrono::steady_clock;

  LimitedSocketStream(int fd, std::chrono::milliseconds readTimeout, std::chrono::milliseconds writeTimeout)
      : fd_(fd), readTimeout_(readTimeout), writeTimeout_(writeTimeout) {}

  // Waits up to `idle` for the first byte of the next request (or EOF);
  // false if none came or the peer closed.
  bool awaitRequest(std::chrono::milliseconds idle);
  // Starts a request's accounting: its limits count from here.
  void startRequest(Clock::time_point deadline);
  RequestLimit limitHit() const { return limit_; }
  size_t bytesWritten() const { return written_; }

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

 private:
  // Waits (poll) for `events` at most `timeout`, never past the deadline.
  bool wait(short events, std::chrono::milliseconds timeout) const;
  bool fill();
  // How many of the next `n` buffered bytes may be handed out.
  size_t admit(size_t n);

  int fd_;
  std::chrono::milliseconds readTimeout_, writeTimeout_;
  Clock::time_point deadline_ = Clock::time_point::max();
  char buf_[4096];
  size_t pos_ = 0, end_ = 0;
  size_t written_ = 0;
  // The current request.
  RequestLimit limit_ = RequestLimit::kNone;
  bool inHeaders_ = true;
  size_t headerBytes_ = 0, headerLines_ = 0, lineBytes_ = 0, bodyBytes_ = 0;
  char last_ = 0;
};

}  // namespace weft::plugin
