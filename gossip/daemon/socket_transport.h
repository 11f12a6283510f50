#pragma once
// The gossip Transport over real sockets: UDP datagrams and TCP streams on
// one address:port. Stream frames are length-prefixed (4 bytes, big-endian)
// and capped in size; connections are short-lived (one per sync).

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "gossip/daemon/event_loop.h"
#include "gossip/transport.h"

namespace weft::gossip {

inline constexpr size_t kMaxStreamFrame = 8 << 20;  // 8 MiB
inline constexpr size_t kMaxDatagram = 65507;

// "1.2.3.4:7947" or "[fd00::1]:7947" <-> sockaddr.
Result<sockaddr_storage> parseHostPort(const std::string& s, socklen_t* len);
std::string formatHostPort(const sockaddr* sa);

class SocketTransport : public Transport {
 public:
  explicit SocketTransport(EventLoop& loop) : loop_(loop) {}
  ~SocketTransport() override;

  // Binds UDP and TCP on `hostPort`.
  Status bind(const std::string& hostPort);

  void sendDatagram(const std::string& to, std::vector<uint8_t> packet) override;
  void sendStream(const std::string& to, std::vector<uint8_t> frame) override;
  void setHandler(Handler handler) override { handler_ = std::move(handler); }

  uint64_t droppedSends() const { return droppedSends_; }
  uint64_t oversizedFrames() const { return oversized_; }

 private:
  struct Conn {
    std::string peer;
    std::vector<uint8_t> in;
    std::vector<uint8_t> out;
    size_t outOff = 0;
    bool outgoing = false;
    bool connecting = false;
    Clock::TimerId deadline = 0;
  };
  void onUdp();
  void onAccept();
  void onConn(int fd, uint32_t events);
  void closeConn(int fd);

  EventLoop& loop_;
  Handler handler_;
  int udp_ = -1;
  int tcp_ = -1;
  std::map<int, Conn> conns_;
  uint64_t droppedSends_ = 0;
  uint64_t oversized_ = 0;
};

}  // namespace weft::gossip
