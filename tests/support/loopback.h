#pragma once
// Loopback helpers for tests that run real servers: a free port, a plain
// HTTP GET, and a shell command's output.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace weft::test {

// A 127.0.0.1 port free for both TCP and UDP right now (bound and released:
// another program could take it before the caller does, but rarely).
inline uint16_t freePort() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int t = ::socket(AF_INET, SOCK_STREAM, 0), u = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    uint16_t port = 0;
    if (::bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(t, reinterpret_cast<sockaddr*>(&a), &len) == 0 &&
        ::bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0)
      port = ntohs(a.sin_port);
    ::close(t);
    ::close(u);
    if (port) return port;
  }
  return 0;
}

// GET http://127.0.0.1:port<path> (HTTP/1.0): the whole response, status
// line included; "" if nothing answered within 10 s.
inline std::string httpGet(uint16_t port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// A shell command's standard output; its wait status in *status.
inline std::string runCapture(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = ::pclose(p);
  return out;
}

}  // namespace weft::test
