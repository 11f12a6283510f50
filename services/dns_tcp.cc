#include "services/dns_tcp.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

namespace weft::services {
namespace {

constexpr size_t kReadChunk = 4096;
constexpr int kAcceptsPerTurn = 16;  // one flood of connects cannot hold the loop

}  // namespace

std::optional<IpAddr> sockaddrIp(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET)
    return IpAddr::fromBytes(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr);
  if (ss.ss_family == AF_INET6)
    return IpAddr::fromBytes(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr);
  return std::nullopt;
}

DnsFrameReader::Frame DnsFrameReader::next(std::vector<uint8_t>* msg) {
  if (bad_) return Frame::kBad;
  if (buf_.size() < 2) return Frame::kNone;
  const size_t len = static_cast<size_t>(buf_[0]) << 8 | buf_[1];
  if (len == 0 || len > max_) {
    bad_ = true;
    buf_.clear();
    return Frame::kBad;
  }
  if (buf_.size() < 2 + len) return Frame::kNone;
  msg->assign(buf_.begin() + 2, buf_.begin() + static_cast<std::ptrdiff_t>(2 + len));
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(2 + len));
  return Frame::kMessage;
}

void DnsTcpServer::accept(const std::string& network, int listenFd) {
  for (int i = 0; i < kAcceptsPerTurn; ++i) {
    sockaddr_storage peer{};
    socklen_t peerLen = sizeof peer;
    kernel::Fd fd(
        ::accept4(listenFd, reinterpret_cast<sockaddr*>(&peer), &peerLen, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;  // EAGAIN, or the client gave up already
    if (conns_.size() >= limits_.maxConnections) {
      ++counters_.refused;  // closed here, when fd goes
      continue;
    }
    ++counters_.accepted;
    const int key = fd.get();
    conns_.emplace(key, Conn{network,
                             sockaddrIp(peer),
                             std::move(fd),
                             DnsFrameReader(limits_.maxQuery),
                             {},
                             std::chrono::steady_clock::now()});
  }
}

void DnsTcpServer::addPollFds(std::vector<pollfd>* fds) const {
  for (const auto& [fd, c] : conns_) {
    short events = 0;
    if (c.out.size() < limits_.maxQueued) events |= POLLIN;
    if (!c.out.empty()) events |= POLLOUT;
    fds->push_back({fd, events, 0});
  }
}

bool DnsTcpServer::readFrom(Conn& c) {
  uint8_t buf[kReadChunk];
  ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
  if (n == 0) return false;  // the client closed its side
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  c.reader.feed({buf, static_cast<size_t>(n)});
  return answerFrames(c);
}

bool DnsTcpServer::answerFrames(Conn& c) {
  std::vector<uint8_t> msg;
  for (;;) {
    // Answer until the queue is full or no whole query is left, send; when
    // sending made room, go on (nothing else would wake this connection:
    // the bytes are read already).
    bool full = false;
    for (;;) {
      if (c.out.size() >= limits_.maxQueued) {
        full = true;
        break;
      }
      auto f = c.reader.next(&msg);
      if (f == DnsFrameReader::Frame::kNone) break;
      if (f == DnsFrameReader::Frame::kBad) {
        ++counters_.badFrames;
        return false;
      }
      c.active = std::chrono::steady_clock::now();
      auto reply = answer_(c.network, c.peer, msg);
      if (reply.empty() || reply.size() > kMaxTcpReply) continue;  // nothing to say (e.g. to a response)
      c.out.push_back(static_cast<uint8_t>(reply.size() >> 8));
      c.out.push_back(static_cast<uint8_t>(reply.size()));
      c.out.insert(c.out.end(), reply.begin(), reply.end());
    }
    if (!writeTo(c)) return false;
    if (!full || c.out.size() >= limits_.maxQueued) return true;
  }
}

bool DnsTcpServer::writeTo(Conn& c) {
  while (!c.out.empty()) {
    ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    c.out.erase(c.out.begin(), c.out.begin() + n);
    c.active = std::chrono::steady_clock::now();
  }
  return true;
}

void DnsTcpServer::handle(const std::vector<pollfd>& fds, size_t from) {
  for (size_t i = from; i < fds.size(); ++i) {
    if (!fds[i].revents) continue;
    auto it = conns_.find(fds[i].fd);
    if (it == conns_.end()) continue;
    Conn& c = it->second;
    bool keep = true;
    if (fds[i].revents & POLLOUT) {
      // Room again: queries read while the queue was full are answered now.
      keep = answerFrames(c);
    }
    if (keep && (fds[i].revents & POLLIN)) keep = readFrom(c);
    if (keep && (fds[i].revents & (POLLERR | POLLNVAL))) keep = false;
    // POLLHUP with nothing left to read: readFrom saw the end already.
    if (keep && (fds[i].revents & POLLHUP) && !(fds[i].revents & POLLIN)) keep = false;
    if (!keep) conns_.erase(it);
  }
}

void DnsTcpServer::expire(std::chrono::steady_clock::time_point now) {
  for (auto it = conns_.begin(); it != conns_.end();) {
    if (now - it->second.active > limits_.idle) {
      ++counters_.idleClosed;
      it = conns_.erase(it);
    } else {
      ++it;
    }
  }
}

void DnsTcpServer::dropNetwork(const std::string& network) {
  for (auto it = conns_.begin(); it != conns_.end();)
    it = it->second.network == network ? conns_.erase(it) : std::next(it);
}

}  // namespace weft::services
