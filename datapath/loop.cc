#include "datapath/loop.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
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

// A UDP GSO message: at most this many datagrams (the kernel's
// UDP_MAX_SEGMENTS is 64 on older kernels) and bytes (one IP packet's
// payload, less the UDP header).
constexpr size_t kMaxGsoSegments = 64;
constexpr size_t kMaxGsoBytes = 65535 - 40 - 8;
// A receive buffer: the largest datagram, or a UDP GRO run of them (which
// the kernel keeps within 64 KB).
constexpr size_t kRxBufferSize = 65536;

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
      out_(kSendBatch, std::vector<uint8_t>(kOverhead + kMaxFrameSize)),
      outTo_(kSendBatch),
      rx_(kBatch, std::vector<uint8_t>(kRxBufferSize)) {
  // A programmer's error, not input: the shim opens TAPs with kVnetHdrSize.
  if (vnetHdrSize != 0 && vnetHdrSize != kVnetHdrSize)
    throw std::invalid_argument("datapath loop: virtio_net_hdr size must be 0 or 10");
  if (stopFd_ < 0) throw std::runtime_error("datapath loop: eventfd: " + std::string(std::strerror(errno)));
  // UDP GRO: the kernel hands over a run of datagrams from one sender as one
  // buffer with their size (a cmsg), split again in fromUdp(). Without it
  // (an old kernel) datagrams come one by one, which works the same.
  const int one = 1;
  (void)::setsockopt(udp_, SOL_UDP, UDP_GRO, &one, sizeof one);
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
  if (outCount_ == kSendBatch) flush();
  // Encrypted from the segment straight into the datagram (TxSession::seal).
  std::span<const uint8_t> frames[] = {frame};
  auto n = dp_.seal(vni, to, frames, out_[outCount_], now);
  if (!n) return;  // counted by the datapath (sealFailed)
  // The buffer's size is the datagram's until flush() restores it.
  out_[outCount_].resize(*n);
  outTo_[outCount_] = to;
  ++outCount_;
}

void DatapathLoop::flush() {
  // Datagrams to one peer of one size (the last of a run may be shorter) go
  // as one UDP GSO message: one pass through the underlay's stack and veth
  // for up to kMaxGsoSegments datagrams, cut by the kernel (or the NIC).
  mmsghdr msgs[kSendBatch]{};
  iovec iov[kSendBatch];
  sockaddr_storage addrs[kSendBatch];
  size_t first[kSendBatch], count[kSendBatch];  // each message's datagrams
  alignas(cmsghdr) char ctl[kSendBatch][CMSG_SPACE(sizeof(uint16_t))];
  size_t nmsg = 0;
  for (size_t i = 0; i < outCount_;) {
    size_t j = i + 1, bytes = out_[i].size();
    if (gso_)
      while (j < outCount_ && j - i < kMaxGsoSegments && outTo_[j] == outTo_[i] &&
             out_[j].size() <= out_[i].size() && bytes + out_[j].size() <= kMaxGsoBytes) {
        bytes += out_[j].size();
        if (out_[j++].size() < out_[i].size()) break;  // a short one ends the run
      }
    mmsghdr& m = msgs[nmsg];
    for (size_t k = i; k < j; ++k) iov[k] = {out_[k].data(), out_[k].size()};
    m.msg_hdr.msg_iov = &iov[i];
    m.msg_hdr.msg_iovlen = j - i;
    m.msg_hdr.msg_name = &addrs[nmsg];
    m.msg_hdr.msg_namelen = toSockaddr(outTo_[i], &addrs[nmsg]);
    if (j - i > 1) {
      m.msg_hdr.msg_control = ctl[nmsg];
      m.msg_hdr.msg_controllen = sizeof ctl[nmsg];
      cmsghdr* c = CMSG_FIRSTHDR(&m.msg_hdr);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const auto segment = static_cast<uint16_t>(out_[i].size());
      std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
    }
    first[nmsg] = i;
    count[nmsg++] = j - i;
    i = j;
  }
  size_t done = 0;
  while (done < nmsg) {
    int r = ::sendmmsg(udp_, msgs + done, static_cast<unsigned>(nmsg - done), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // The send buffer is full: wait for room (bounded) rather than drop,
      // so a bulk TCP stream meets back-pressure, not loss. The TAP is not
      // read meanwhile; its queue holds what comes.
      pollfd p{udp_, POLLOUT, 0};
      if (::poll(&p, 1, kSendWaitMs) > 0) continue;
      errno = EAGAIN;
    }
    if (r <= 0 && count[done] > 1 && (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT)) {
      // A kernel or route that refuses UDP GSO (EIO: a device without
      // checksum offload): send one by one from here on.
      gso_ = false;
      ++io_.udpGsoRefused;
      for (size_t k = 0; k < count[done]; ++k) {
        if (::sendto(udp_, out_[first[done] + k].data(), out_[first[done] + k].size(), 0,
                     static_cast<sockaddr*>(msgs[done].msg_hdr.msg_name), msgs[done].msg_hdr.msg_namelen) < 0)
          ++io_.udpSendErrors;
        else
          ++io_.udpSent;
      }
      ++done;
      continue;
    }
    if (r <= 0) {
      // The first message failed (full buffer, ICMP-reported unreachable
      // peer): drop it, keep the rest going.
      io_.udpSendErrors += count[done];
      ++done;
      continue;
    }
    for (size_t k = done; k < done + static_cast<size_t>(r); ++k) {
      io_.udpSent += count[k];
      if (count[k] > 1) ++io_.udpGsoSends;
    }
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
    if (route.peers.empty()) ++(route.kind == ForwardingTable::Kind::kGroup ? io_.groupPruned : io_.noRoute);
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
  auto pieces = coalescer_.takePieces();
  if (pieces.empty()) return;
  // Only used with a virtio_net_hdr (fromUdp): without one a super-frame
  // cannot be handed over. One writev gathers the headers and each
  // segment's payload where it was decrypted (in rx_, kept until the end of
  // the batch): the kernel copies them once, user space never.
  iovec iov[kMaxCoalescedSegments + 1];
  for (size_t i = 0; i < pieces.size(); ++i)
    iov[i] = {const_cast<uint8_t*>(pieces[i].data()), pieces[i].size()};
  countTapWrite(::writev(coalescerTap_, iov, static_cast<int>(pieces.size())), several);
}

size_t DatapathLoop::fromUdp(Clock::time_point now) {
  mmsghdr msgs[kBatch]{};
  iovec iov[kBatch];
  alignas(cmsghdr) char ctl[kBatch][CMSG_SPACE(sizeof(int))];
  for (size_t i = 0; i < kBatch; ++i) {
    iov[i] = {rx_[i].data(), rx_[i].size()};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_control = ctl[i];
    msgs[i].msg_hdr.msg_controllen = sizeof ctl[i];
  }
  int r = ::recvmmsg(udp_, msgs, kBatch, MSG_DONTWAIT, nullptr);
  if (r <= 0) return 0;
  // Each buffer: one datagram, or (UDP GRO) several of `segment` bytes but
  // the last; a buffer the kernel cut short ends in a piece that fails
  // authentication, like a truncated datagram.
  datagrams_.clear();
  for (int i = 0; i < r; ++i) {
    ++io_.udpBuffers;
    const auto& h = msgs[i].msg_hdr;
    size_t segment = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c))
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        int v;
        std::memcpy(&v, CMSG_DATA(c), sizeof v);
        if (v > 0) segment = static_cast<size_t>(v);
      }
    const size_t len = std::min<size_t>(msgs[i].msg_len, rx_[i].size());
    if (segment == 0) segment = std::max<size_t>(len, 1);
    for (size_t at = 0; at < len || (at == 0 && len == 0); at += segment)
      datagrams_.emplace_back(rx_[i].data() + at, std::min(segment, len - at));
  }
  io_.udpReceived += datagrams_.size();
  const uint8_t zeroHdr[kVnetHdrSize] = {};
  Datapath::Received got;
  for (auto d : datagrams_) {
    if (!dp_.open(d, &got, now)) continue;
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
  return datagrams_.size();
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
