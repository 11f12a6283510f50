#pragma once
// How gossip packets leave and enter a node. Datagrams (UDP) may be lost,
// reordered or duplicated; stream frames (TCP) arrive whole or not at all.
// Addresses are "host:port" strings the transport understands.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace weft::gossip {

class Transport {
 public:
  // `from` is the datagram's source address; for stream frames it is the
  // peer's address as the transport knows it (not necessarily advertised).
  using Handler = std::function<void(const std::string& from, std::vector<uint8_t> data, bool stream)>;
  virtual ~Transport() = default;
  virtual void sendDatagram(const std::string& to, std::vector<uint8_t> packet) = 0;
  virtual void sendStream(const std::string& to, std::vector<uint8_t> frame) = 0;
  virtual void setHandler(Handler handler) = 0;
};
using TransportPtr = std::shared_ptr<Transport>;

// What a stream transport does with a connection after checking its hello:
// go on, refuse it (it did not authenticate: say so, then close), or drop it
// (authentic but stale or misdirected: close without a word).
enum class StreamHello { kAccepted, kRefused, kDropped };

}  // namespace weft::gossip
