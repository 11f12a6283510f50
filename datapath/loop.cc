#include "datapath/loop.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <stdexcept>

namespace weft::datapath {
namespace {

// Room for anything a TAP can hand over, so an oversized frame is seen
// whole and dropped rather than truncated.
constexpr size_t kTapReadSize = 65536 + 64;

// How long a batch waits for room in a full send buffer before its first
// datagram is dropped (counted as udpSendErrors).
constexpr int kSendWaitMs = 20;

socklen_t toSockaddr(const PeerAddr& p, sockaddr_storage* ss) {
  std::memset(ss, 0, sizeof *ss);
  if (p.family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(p.port);
    std::memcpy(&a->sin6_addr, p.addr.data(), 16);
    return sizeof *a;
  }
  auto* a = reinterpret_cast<sockaddr_in*>(ss);
  a->sin_family = AF_INET;
  a->sin_port = htons(p.port);
  std::memcpy(&a->sin_addr, p.addr.data(), 4);
  return sizeof *a;
}

}  // namespace

bool completeChecksum(std::span<uint8_t> frame, size_t start, size_t offset) {
  if (start >= frame.size() || offset + 2 > frame.size() - start) return false;
  const uint16_t csum = static_cast<uint16_t>(~onesSum(frame.subspan(start)));
  std::memcpy(frame.data() + start + offset, &csum, 2);  // onesSum's order is memory order
  return true;
}

DatapathLoop::DatapathLoop(Datapath& dp, int udpFd, size_t vnetHdrSize)
    : dp_(dp),
      udp_(udpFd),
      vnetHdr_(vnetHdrSize),
      stopFd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      in_(kTapReadSize),
      out_(kBatch, std::vector<uint8_t>(kOverhead + kMaxFrameSize)),
      outTo_(kBatch),
      rx_(kBatch, std::vector<uint8_t>(kMaxPacketSize)) {
  // A programmer's error, not input: the shim opens TAPs with kVnetHdrSize.
  if (vnetHdrSize != 0 && vnetHdrSize != kVnetHdrSize)
    throw std::invalid_argument("datapath loop: virtio_net_hdr size must be 0 or 10");
  if (stopFd_ < 0) throw std::runtime_error("datapath loop: eventfd: " + std::string(std::strerror(errno)));
}

DatapathLoop::~DatapathLoop() { ::close(stopFd_); }

Status DatapathLoop::addTap(uint32_t vni, int tapFd) {
  if (!taps_.emplace(vni, tapFd).second)
    return Error{EEXIST, "datapath loop: vni " + std::to_string(vni) + " already has a TAP"};
  return Status::Ok();
}

void DatapathLoop::stop() {
  const uint64_t one = 1;
  (void)!::write(stopFd_, &one, sizeof one);
}

void DatapathLoop::queue(const PeerAddr& to, uint32_t vni, std::span<const uint8_t> frame,
                         Clock::time_point now) {
  if (outCount_ == kBatch) flush();
  std::span<const uint8_t> frames[] = {frame};
  auto n = dp_.seal(vni, to, frames, out_[outCount_], now);
  if (!n) return;  // counted by the datapath (sealFailed)
  // The buffer's size is the datagram's until flush() restores it.
  out_[outCount_].resize(*n);
  outTo_[outCount_] = to;
  ++outCount_;
}

void DatapathLoop::flush() {
  mmsghdr msgs[kBatch]{};
  iovec iov[kBatch];
  sockaddr_storage addrs[kBatch];
  for (size_t i = 0; i < outCount_; ++i) {
    iov[i] = {out_[i].data(), out_[i].size()};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &addrs[i];
    msgs[i].msg_hdr.msg_namelen = toSockaddr(outTo_[i], &addrs[i]);
  }
  size_t done = 0;
  while (done < outCount_) {
    int r = ::sendmmsg(udp_, msgs + done, static_cast<unsigned>(outCount_ - done), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // The send buffer is full: wait for room (bounded) rather than drop,
      // so a bulk TCP stream meets back-pressure, not loss. The TAP is not
      // read meanwhile; its queue holds what comes.
      pollfd p{udp_, POLLOUT, 0};
      if (::poll(&p, 1, kSendWaitMs) > 0) continue;
      errno = EAGAIN;
    }
    if (r <= 0) {
      // The first datagram failed (full buffer, ICMP-reported unreachable
      // peer): drop it, keep the rest going.
      ++io_.udpSendErrors;
      ++done;
      continue;
    }
    io_.udpSent += static_cast<uint64_t>(r);
    done += static_cast<size_t>(r);
  }
  for (size_t i = 0; i < outCount_; ++i) out_[i].resize(kOverhead + kMaxFrameSize);
  outCount_ = 0;
}

size_t DatapathLoop::fromTap(uint32_t vni, int tapFd, Clock::time_point now) {
  ForwardingTable* fdb = dp_.forwarding(vni);
  size_t moved = 0;
  for (; moved < kBatch; ++moved) {
    ssize_t r = ::read(tapFd, in_.data(), in_.size());
    if (r < 0) break;  // EAGAIN: drained (other errors: poll reports them again)
    ++io_.tapFrames;
    const size_t len = static_cast<size_t>(r);
    if (len < vnetHdr_ + kMinFrameSize || !fdb) {
      ++io_.tapDropped;
      continue;
    }
    VnetHdr h;
    if (vnetHdr_ >= kVnetHdrSize)
      h = decodeVnetHdr(std::span<const uint8_t, kVnetHdrSize>(in_.data(), kVnetHdrSize));
    // A super-frame becomes the frames the kernel would have cut it into;
    // a plain frame has its partial checksum (if any) completed.
    if (segmenter_.split(h, std::span(in_.data() + vnetHdr_, len - vnetHdr_), kMaxFrameSize, &segments_) !=
        SegmentError::kNone) {
      ++io_.tapDropped;
      continue;
    }
    if (h.gsoType != kVnetGsoNone) ++io_.tapSuperFrames;
    // Every segment has the super-frame's Ethernet header: one lookup.
    auto route = fdb->lookup(segments_.front());
    if (route.peers.empty()) ++io_.noRoute;
    for (const PeerAddr& p : route.peers)
      for (const auto& seg : segments_) queue(p, vni, seg, now);
  }
  flush();
  return moved;
}

void DatapathLoop::countTapWrite(ssize_t written, bool coalesced) {
  if (written < 0) {
    ++io_.tapWriteErrors;
  } else {
    ++io_.tapWritten;
    if (coalesced) ++io_.tapCoalesced;
  }
}

void DatapathLoop::writeCoalesced() {
  const bool several = coalescer_.segments() > 1;
  auto out = coalescer_.take();
  if (out.empty()) return;
  // Only used with a virtio_net_hdr (fromUdp): without one a super-frame
  // cannot be handed over.
  countTapWrite(::write(coalescerTap_, out.data(), out.size()), several);
}

size_t DatapathLoop::fromUdp(Clock::time_point now) {
  mmsghdr msgs[kBatch]{};
  iovec iov[kBatch];
  for (size_t i = 0; i < kBatch; ++i) {
    iov[i] = {rx_[i].data(), rx_[i].size()};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int r = ::recvmmsg(udp_, msgs, kBatch, MSG_DONTWAIT, nullptr);
  if (r <= 0) return 0;
  io_.udpReceived += static_cast<uint64_t>(r);
  const uint8_t zeroHdr[kVnetHdrSize] = {};
  Datapath::Received got;
  for (int i = 0; i < r; ++i) {
    // A datagram cut short by the buffer fails authentication; no special case.
    if (!dp_.open(std::span(rx_[i].data(), msgs[i].msg_len), &got, now)) continue;
    auto tap = taps_.find(got.vni);
    if (tap == taps_.end()) {
      io_.noTap += got.frames.size();
      continue;
    }
    for (const auto& f : got.frames) {
      if (vnetHdr_ == kVnetHdrSize) {
        // Only authenticated frames get here. Consecutive segments of one
        // TCP flow become one TAP write; anything else goes alone, in order.
        if (coalescerTap_ != tap->second) writeCoalesced();
        coalescerTap_ = tap->second;
        if (!coalescer_.add(f)) {
          writeCoalesced();
          if (!coalescer_.add(f)) {
            iovec parts[2] = {{const_cast<uint8_t*>(zeroHdr), vnetHdr_},
                              {const_cast<uint8_t*>(f.data()), f.size()}};
            countTapWrite(::writev(tap->second, parts, 2), false);
            continue;
          }
        }
        if (coalescer_.closed()) writeCoalesced();
        continue;
      }
      countTapWrite(::write(tap->second, f.data(), f.size()), false);
    }
  }
  // Nothing waits past the batch: the next datagram may be long in coming.
  writeCoalesced();
  return static_cast<size_t>(r);
}

Status DatapathLoop::run() {
  std::vector<pollfd> fds;
  fds.push_back({stopFd_, POLLIN, 0});
  fds.push_back({udp_, POLLIN, 0});
  for (const auto& [vni, fd] : taps_) fds.push_back({fd, POLLIN, 0});
  for (;;) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return Error::fromErrno(errno, "datapath loop: poll");
    }
    if (fds[0].revents) return Status::Ok();
    const auto now = Clock::now();
    if (fds[1].revents & POLLIN) fromUdp(now);
    size_t i = 2;
    for (const auto& [vni, fd] : taps_)
      if (fds[i++].revents & POLLIN) fromTap(vni, fd, now);
  }
}

}  // namespace weft::datapath
