#pragma once
// What the datapath did with packets, for weftctl and metrics. Every packet
// that is dropped is counted under exactly one reason.

#include <cstdint>

namespace weft::datapath {

struct Counters {
  // sent
  uint64_t sealedPackets = 0;
  uint64_t sealedFrames = 0;
  uint64_t sealedBytes = 0;  // inner frame bytes
  uint64_t sealFailed = 0;   // refused to send (frame limits, no room, epochs exhausted)
  uint64_t rekeys = 0;       // sender moved to a new key epoch
  // received and delivered
  uint64_t openedPackets = 0;
  uint64_t openedFrames = 0;
  uint64_t openedBytes = 0;
  // received and dropped
  uint64_t truncated = 0;       // shorter than header + tag
  uint64_t tooBig = 0;          // longer than kMaxPacketSize
  uint64_t badVersion = 0;      // unknown wire version
  uint64_t badHeader = 0;       // reserved bits, unknown flags, sequence 0
  uint64_t unknownSender = 0;   // no such network (vni) or peer (sender id)
  uint64_t staleKey = 0;        // key epoch no longer (or never) accepted
  uint64_t replayed = 0;        // sequence seen already, or behind the window
  uint64_t authFailed = 0;      // tag mismatch: forged, altered or wrong key
  uint64_t malformedInner = 0;  // authenticated but breaks the frame limits

  uint64_t dropped() const {
    return truncated + tooBig + badVersion + badHeader + unknownSender + staleKey + replayed + authFailed +
           malformedInner;
  }
  Counters& operator+=(const Counters& o);
};

inline Counters& Counters::operator+=(const Counters& o) {
  sealedPackets += o.sealedPackets;
  sealedFrames += o.sealedFrames;
  sealedBytes += o.sealedBytes;
  sealFailed += o.sealFailed;
  rekeys += o.rekeys;
  openedPackets += o.openedPackets;
  openedFrames += o.openedFrames;
  openedBytes += o.openedBytes;
  truncated += o.truncated;
  tooBig += o.tooBig;
  badVersion += o.badVersion;
  badHeader += o.badHeader;
  unknownSender += o.unknownSender;
  staleKey += o.staleKey;
  replayed += o.replayed;
  authFailed += o.authFailed;
  malformedInner += o.malformedInner;
  return *this;
}

}  // namespace weft::datapath
