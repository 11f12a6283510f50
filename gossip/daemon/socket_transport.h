#pragma once
// The gossip Transport over real sockets: UDP datagrams and TCP streams on
// one address:port. Stream frames are length-prefixed (4 bytes, big-endian)
// and capped in size; connections are short-lived (one per sync).
//
// The TCP port faces the network, so nothing larger than a datagram is
// buffered before the peer has authenticated: every connection opens with a
// small sealed hello (made and checked by the gossip node through
// setStreamAuth). Until the hello is in and verified, a connection may hold
// at most kUnauthConnBudget bytes, at most kMaxUnauthConns such connections
// exist (the oldest is dropped for a new one), and each has kHelloTimeout to
// authenticate. Frames of an authenticated connection are read in chunks of
// kStreamReadChunk as they arrive, never allocated from the length prefix.

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "gossip/daemon/event_loop.h"
#include "gossip/transport.h"

namespace weft::gossip {

inline constexpr size_t kMaxStreamFrame = 8 << 20;  // 8 MiB, authenticated connections only
inline constexpr size_t kMaxDatagram = 65507;
// The hello that must open every stream connection (a sealed envelope with no
// messages, ~100 bytes in practice).
inline constexpr size_t kMaxHelloFrame = 1024;
// Bytes an unauthenticated connection may buffer: the hello and its length.
inline constexpr size_t kUnauthConnBudget = 4 + kMaxHelloFrame;
inline constexpr size_t kMaxUnauthConns = 32;
// Bytes all unauthenticated connections together may buffer.
inline constexpr size_t kUnauthGlobalBudget = kMaxUnauthConns * kUnauthConnBudget;
inline constexpr size_t kMaxIncomingConns = 256;  // authenticated or not
inline constexpr size_t kStreamReadChunk = 64 << 10;
inline constexpr auto kHelloTimeout = std::chrono::seconds(2);
inline constexpr auto kConnTimeout = std::chrono::seconds(5);
// What a host writes back on a stream whose hello it could not authenticate,
// before closing it: clear text, so a host with the wrong key can say who
// refuses it. Unauthenticated by nature: a diagnostic, never a decision.
inline constexpr char kRefusalNotice[] = "WEFT-REFUSED\n";

// "1.2.3.4:7947" or "[fd00::1]:7947" <-> sockaddr.
Result<sockaddr_storage> parseHostPort(const std::string& s, socklen_t* len);
std::string formatHostPort(const sockaddr* sa);
// One spelling per address ("[fd00:0::1]:7947" -> "[fd00::1]:7947"), as
// envelopes are bound to the address they are sent to; unparsable input is
// returned as it is.
std::string canonicalHostPort(const std::string& s);

struct TransportStats {
  uint64_t droppedSends = 0;
  uint64_t oversizedFrames = 0;      // length prefix beyond the limit of the connection's state
  uint64_t helloFailures = 0;        // hellos that did not authenticate
  uint64_t helloDropped = 0;         // authentic hellos that were stale or not for this node
  uint64_t helloTimeouts = 0;        // connections that did not authenticate in time
  uint64_t refusedConnections = 0;   // over kMaxIncomingConns, or evicted for a newer unauthenticated one
  uint64_t unauthBytes = 0;          // buffered now by unauthenticated connections
  uint64_t unauthBytesPeak = 0;      // the most they ever held together
  uint64_t unauthConnBytesPeak = 0;  // the most one of them ever held
  uint64_t unauthConns = 0;          // now
  uint64_t unauthConnsPeak = 0;
};

class SocketTransport : public Transport {
 public:
  using HelloMaker = std::function<std::vector<uint8_t>(const std::string& to)>;
  using HelloVerifier = std::function<StreamHello(const std::string& from, std::span<const uint8_t> hello)>;

  explicit SocketTransport(EventLoop& loop) : loop_(loop) {}
  ~SocketTransport() override;

  // Binds UDP and TCP on `hostPort`; outgoing streams leave from its address.
  Status bind(const std::string& hostPort);

  void sendDatagram(const std::string& to, std::vector<uint8_t> packet) override;
  void sendStream(const std::string& to, std::vector<uint8_t> frame) override;
  void setHandler(Handler handler) override { handler_ = std::move(handler); }
  // Without it, no incoming stream authenticates.
  void setStreamAuth(HelloMaker make, HelloVerifier verify) {
    makeHello_ = std::move(make);
    verifyHello_ = std::move(verify);
  }

  const TransportStats& stats() const { return stats_; }
  uint64_t droppedSends() const { return stats_.droppedSends; }
  uint64_t oversizedFrames() const { return stats_.oversizedFrames; }
  // Per peer address: outgoing streams that peer refused (kRefusalNotice).
  const std::map<std::string, uint64_t>& refusedBy() const { return refusedBy_; }

 private:
  struct Conn {
    std::string peer;
    std::vector<uint8_t> in;
    std::vector<uint8_t> out;
    size_t outOff = 0;
    bool outgoing = false;
    bool connecting = false;
    bool authenticated = false;
    Time accepted{};
    Clock::TimerId deadline = 0;
  };
  void onUdp();
  void onAccept();
  void onConn(int fd, uint32_t events);
  void readIncoming(int fd, Conn& c);
  void readRefusal(int fd, Conn& c);
  bool completeFrame(int fd, Conn& c);
  void refuse(int fd);
  void evictOldestUnauthenticated();
  void setUnauthBytes(Conn& c, size_t newSize);
  void closeConn(int fd);

  EventLoop& loop_;
  Handler handler_;
  HelloMaker makeHello_;
  HelloVerifier verifyHello_;
  int udp_ = -1;
  int tcp_ = -1;
  sockaddr_storage local_{};
  socklen_t localLen_ = 0;
  std::map<int, Conn> conns_;
  size_t incoming_ = 0;
  TransportStats stats_;
  std::map<std::string, uint64_t> refusedBy_;
};

}  // namespace weft::gossip
