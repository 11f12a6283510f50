#pragma once
// DNS over TCP for weft's name responder (RFC 7766): a client whose UDP
// reply came truncated (TC, services/dns_message.h) asks again over TCP,
// each message preceded by its two-byte length; several queries may come
// on one connection, answered in order.
//
// Any container of a network can connect, so every resource is bounded:
//   * connections open at once (all networks together): past the limit a
//     new connection is accepted and closed at once (the client sees the
//     close, not a hang in the backlog);
//   * idle time: a connection that sends no complete query and takes no
//     reply bytes for that long is closed;
//   * message length: a length prefix of 0 or above the largest query
//     closes the connection (the stream cannot be resynchronised);
//   * unsent reply bytes per connection: past the limit the connection is
//     not read until the client takes its replies.
// Single-threaded: the responder's poll loop drives it.

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/ip.h"
#include "kernel/fd.h"
#include "services/dns_message.h"

namespace weft::services {

struct DnsTcpLimits {
  size_t maxConnections = 64;
  std::chrono::milliseconds idle{10000};
  size_t maxQuery = kMaxDnsMessage;
  size_t maxQueued = 2 * (kMaxTcpReply + 2);
};

// Splits a TCP byte stream into DNS messages. Pure; the fuzzer feeds it.
// The address in a socket address (IPv4 or IPv6), nullopt for another family.
std::optional<IpAddr> sockaddrIp(const sockaddr_storage& ss);

class DnsFrameReader {
 public:
  explicit DnsFrameReader(size_t maxMessage) : max_(maxMessage) {}
  enum class Frame { kNone, kMessage, kBad };
  void feed(std::span<const uint8_t> bytes) {
    if (!bad_) buf_.insert(buf_.end(), bytes.begin(), bytes.end());
  }
  // The next whole message into *msg (kMessage); kNone while it is not all
  // there; kBad for a length of 0 or above the limit (and from then on).
  Frame next(std::vector<uint8_t>* msg);
  size_t buffered() const { return buf_.size(); }

 private:
  size_t max_;
  std::vector<uint8_t> buf_;
  bool bad_ = false;
};

class DnsTcpServer {
 public:
  // The reply to one query from `peer` (a container of `network`; nullopt
  // when the address is not known) -- empty: none.
  using Answer = std::function<std::vector<uint8_t>(
      const std::string& network, const std::optional<IpAddr>& peer, std::span<const uint8_t> query)>;
  DnsTcpServer(DnsTcpLimits limits, Answer answer) : limits_(limits), answer_(std::move(answer)) {}

  // A listening socket of `network` is readable: take what is waiting.
  void accept(const std::string& network, int listenFd);
  // The connections' poll entries, appended to *fds.
  void addPollFds(std::vector<pollfd>* fds) const;
  // Serves the connections among fds[from...] (entries addPollFds added).
  void handle(const std::vector<pollfd>& fds, size_t from);
  // Closes the connections idle for longer than the limit.
  void expire(std::chrono::steady_clock::time_point now);
  // The network's listener went: its connections go too.
  void dropNetwork(const std::string& network);

  struct Counters {
    uint64_t accepted = 0, refused = 0, idleClosed = 0, badFrames = 0;
  };
  Counters counters() const { return counters_; }
  size_t connections() const { return conns_.size(); }

 private:
  struct Conn {
    std::string network;
    std::optional<IpAddr> peer;
    kernel::Fd fd;
    DnsFrameReader reader;
    std::vector<uint8_t> out;
    std::chrono::steady_clock::time_point active;
  };
  // False when the connection is to be closed.
  bool readFrom(Conn& c);
  bool writeTo(Conn& c);
  bool answerFrames(Conn& c);

  DnsTcpLimits limits_;
  Answer answer_;
  std::map<int, Conn> conns_;  // by fd
  Counters counters_;
};

}  // namespace weft::services
