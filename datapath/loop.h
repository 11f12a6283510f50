#pragma once
// The datapath's I/O: moves frames between TAP queues (one per encrypted
// network) and the datapath's UDP socket.
//   TAP -> forwarding table -> seal (one packet per peer; head-end
//   replication for flooded frames) -> sendmmsg
//   recvmmsg -> open (authenticated or dropped) -> the network's TAP
// Up to kBatch frames or datagrams per system call in each direction. TCP
// super-frames (TSO from the TAP) are cut into MTU-sized segments before
// sealing, and consecutive received segments of one flow are written to the
// TAP as one super-frame (gso.h): the per-frame cost of the TAP and the
// bridge is what bounds the encrypted path's throughput.
//
// The descriptors come from the kernel shim (kernel/tap.h); this file never
// enters a namespace. One thread runs a loop and owns its Datapath: the
// counters are read after stop() and join, or from that thread.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "common/result.h"
#include "datapath/datapath.h"
#include "datapath/gso.h"

namespace weft::datapath {

struct IoCounters {
  uint64_t tapFrames = 0;       // read from a TAP
  uint64_t tapSuperFrames = 0;  // of those, TCP super-frames (GSO) cut into segments before sealing
  uint64_t tapDropped = 0;      // unusable: too short/long, unsupported GSO, bad headers or checksum offsets
  uint64_t noRoute = 0;         // no peer to send to (empty flood list)
  uint64_t groupPruned = 0;     // group frames no remote host listens to (multicast pruning)
  uint64_t udpSent = 0;         // datagrams sent
  uint64_t udpSendErrors = 0;   // datagrams the socket refused (buffer full, unreachable)
  uint64_t udpGsoSends = 0;     // messages that carried several datagrams (UDP GSO)
  uint64_t udpGsoRefused = 0;   // UDP GSO refused by the kernel (then off for this loop)
  uint64_t udpReceived = 0;     // datagrams received
  uint64_t udpBuffers = 0;      // buffers they came in (fewer with UDP GRO)
  uint64_t tapWritten = 0;      // frames (or super-frames) delivered to a TAP
  uint64_t tapCoalesced = 0;    // of those, super-frames of two or more received TCP segments
  uint64_t tapWriteErrors = 0;  // frames the TAP refused
  uint64_t noTap = 0;           // authenticated frames of a network without a TAP here
};

class DatapathLoop {
 public:
  static constexpr size_t kBatch = 32;      // TAP reads, recvmmsg buffers
  static constexpr size_t kSendBatch = 64;  // sealed datagrams per sendmmsg

  // `vnetHdrSize`: the virtio_net_hdr in front of every TAP frame: 10, or 0
  // for none.
  DatapathLoop(Datapath& dp, int udpFd, size_t vnetHdrSize);
  ~DatapathLoop();
  DatapathLoop(const DatapathLoop&) = delete;
  DatapathLoop& operator=(const DatapathLoop&) = delete;

  // The TAP queue of network `vni` (before run()). EEXIST if it has one.
  Status addTap(uint32_t vni, int tapFd);

  // Polls until stop(); an error only if poll itself fails.
  Status run();
  // From any thread.
  void stop();

  // One batch each way (what run() does on readiness): frames read from the
  // TAP; datagrams received (a UDP GRO buffer counts what it holds).
  size_t fromTap(uint32_t vni, int tapFd, Clock::time_point now);
  size_t fromUdp(Clock::time_point now);

  const IoCounters& counters() const { return io_; }

 private:
  struct Out;  // one datagram to send
  void queue(const PeerAddr& to, uint32_t vni, std::span<const uint8_t> frame, Clock::time_point now);
  void flush();
  void countTapWrite(ssize_t written, bool coalesced);
  void writeCoalesced();

  Datapath& dp_;
  int udp_;
  size_t vnetHdr_;
  int stopFd_;
  std::map<uint32_t, int> taps_;
  std::vector<uint8_t> in_;                // one TAP frame
  std::vector<std::vector<uint8_t>> out_;  // sealed datagrams waiting for sendmmsg
  std::vector<PeerAddr> outTo_;
  size_t outCount_ = 0;
  std::vector<std::vector<uint8_t>> rx_;       // recvmmsg buffers
  std::vector<std::span<uint8_t>> datagrams_;  // what they hold
  bool gso_ = true;                            // UDP GSO until the kernel refuses it
  Segmenter segmenter_;
  std::vector<std::span<const uint8_t>> segments_;
  Coalescer coalescer_;
  int coalescerTap_ = -1;  // the TAP the pending super-frame goes to
  IoCounters io_;
};

// Completes a checksum the kernel left partial (VIRTIO_NET_HDR_F_NEEDS_CSUM):
// the Internet checksum over frame[start..] stored at start + offset. False
// when the offsets fall outside the frame.
bool completeChecksum(std::span<uint8_t> frame, size_t start, size_t offset);

}  // namespace weft::datapath
