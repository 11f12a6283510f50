// TCP segmentation (TAP super-frames -> frames) and coalescing (received
// segments -> one super-frame), checked against a plain byte-by-byte
// Internet checksum and a field-by-field reading of each frame.

#include "datapath/gso.h"

#include <gtest/gtest.h>

#include "tests/datapath/tcp_frames.h"

namespace weft::datapath {
namespace {

using namespace tcp_frames;

// Checks one frame as a receiving TCP/IP stack would.
void expectValidFrame(std::span<const uint8_t> f, const Spec& s) {
  ASSERT_GE(f.size(), hdrOf(s));
  const uint8_t* ip = f.data() + 14;
  if (s.v6) {
    EXPECT_EQ(get16(ip + 4), f.size() - 54);
  } else {
    EXPECT_EQ(get16(ip + 2), f.size() - 14);
    EXPECT_EQ(refSum(ip, 20 + s.ipOptions), 0xffffu) << "IPv4 header checksum";
  }
  const size_t l4 = l4Of(s);
  EXPECT_EQ(refSum(f.data() + l4, f.size() - l4, pseudo(f.data(), s.v6, f.size() - l4)), 0xffffu)
      << "TCP checksum";
}

TEST(Segmenter, CutsAnIpv4SuperFrameLikeTheKernel) {
  for (size_t ipOpt : {0, 8}) {
    Spec s{.ipOptions = ipOpt, .tcpOptions = 12, .payload = 2500, .flags = kAck | kPsh | kFin | kCwr};
    auto f = superFrame(s);
    Segmenter seg;
    std::vector<std::span<const uint8_t>> out;
    ASSERT_EQ(seg.split(tsoHdr(s, 1000), f, 9216, &out), SegmentError::kNone);
    ASSERT_EQ(out.size(), 3u);
    std::vector<uint8_t> payload;
    for (size_t i = 0; i < out.size(); ++i) {
      SCOPED_TRACE(i);
      const auto& o = out[i];
      EXPECT_EQ(o.size(), hdrOf(s) + (i < 2 ? 1000 : 500));
      expectValidFrame(o, s);
      EXPECT_EQ(get16(o.data() + 18), static_cast<uint16_t>(0xfffe + i)) << "IP id";
      const uint8_t* tcp = o.data() + l4Of(s);
      EXPECT_EQ(get32(tcp + 4), static_cast<uint32_t>(0xfffff000u + 1000 * i));
      EXPECT_EQ(tcp[13], i == 0 ? (kAck | kCwr) : i == 1 ? kAck : (kAck | kPsh | kFin));
      // Everything else of the headers as in the super-frame.
      EXPECT_TRUE(std::equal(o.begin(), o.begin() + 16, f.begin()));
      EXPECT_TRUE(std::equal(o.begin() + static_cast<long>(l4Of(s)) + 20,
                             o.begin() + static_cast<long>(hdrOf(s)),
                             f.begin() + static_cast<long>(l4Of(s)) + 20));
      payload.insert(payload.end(), o.begin() + static_cast<long>(hdrOf(s)), o.end());
    }
    EXPECT_TRUE(std::equal(payload.begin(), payload.end(), f.begin() + static_cast<long>(hdrOf(s)), f.end()));
  }
}

TEST(Segmenter, CutsAnIpv6SuperFrameAndAnExactMultiple) {
  Spec s{.v6 = true, .tcpOptions = 12, .payload = 3 * 1200};
  auto f = superFrame(s);
  Segmenter seg;
  std::vector<std::span<const uint8_t>> out;
  ASSERT_EQ(seg.split(tsoHdr(s, 1200), f, 9216, &out), SegmentError::kNone);
  ASSERT_EQ(out.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(out[i].size(), hdrOf(s) + 1200);
    expectValidFrame(out[i], s);
    EXPECT_EQ(out[i][l4Of(s) + 13], i == 2 ? (kAck | kPsh) : kAck);
  }
}

TEST(Segmenter, APayloadWithinOneSegmentStaysOneFrameWithAFullChecksum) {
  Spec s{.payload = 700};
  auto f = superFrame(s);
  Segmenter seg;
  std::vector<std::span<const uint8_t>> out;
  ASSERT_EQ(seg.split(tsoHdr(s, 1400), f, 9216, &out), SegmentError::kNone);
  ASSERT_EQ(out.size(), 1u);
  expectValidFrame(out[0], s);
}

TEST(Segmenter, APlainFrameHasItsPartialChecksumCompleted) {
  std::vector<uint8_t> f(61, 0x5a);
  f[40] = 0x12, f[41] = 0x34;  // the "pseudo header" sum the kernel left there
  Segmenter seg;
  std::vector<std::span<const uint8_t>> out;
  ASSERT_EQ(seg.split(VnetHdr{kVnetNeedsCsum, kVnetGsoNone, 0, 0, 34, 6}, f, 9216, &out),
            SegmentError::kNone);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data(), f.data());  // in place
  // With the pseudo header's sum it stood for, the whole sums to all ones.
  EXPECT_EQ(refSum(f.data() + 34, f.size() - 34, 0x1234), 0xffffu);
  // Without NEEDS_CSUM nothing is touched.
  auto g = std::vector<uint8_t>(61, 0x5a);
  ASSERT_EQ(seg.split(VnetHdr{}, g, 9216, &out), SegmentError::kNone);
  EXPECT_EQ(g, std::vector<uint8_t>(61, 0x5a));
}

TEST(Segmenter, RefusesWhatItCannotCutAndReadsNothingPastTheEnd) {
  Spec s;
  auto f = superFrame(s);
  Segmenter seg;
  std::vector<std::span<const uint8_t>> out;
  auto h = tsoHdr(s, 1000);
  auto with = [&](auto change, std::vector<uint8_t> frame) {
    VnetHdr hh = h;
    change(hh, frame);
    return seg.split(hh, frame, 9216, &out);
  };
  auto nothing = [](VnetHdr&, std::vector<uint8_t>&) {};
  EXPECT_EQ(with([](VnetHdr& x, auto&) { x.gsoType = 3; }, f), SegmentError::kUnsupported);  // UDP
  EXPECT_EQ(with([](VnetHdr& x, auto&) { x.gsoType |= kVnetGsoEcn; }, f), SegmentError::kUnsupported);
  EXPECT_EQ(with([](VnetHdr& x, auto&) { x.gsoType = kVnetGsoTcpv6; }, f), SegmentError::kMalformed);
  EXPECT_EQ(with([](VnetHdr& x, auto&) { x.gsoSize = 63; }, f), SegmentError::kMalformed);
  EXPECT_EQ(with([](VnetHdr&, auto& x) { x.resize(x.size() - 1); }, f),
            SegmentError::kMalformed);                                                      // IP length
  EXPECT_EQ(with([](VnetHdr&, auto& x) { x[20] |= 0x20; }, f), SegmentError::kMalformed);   // MF
  EXPECT_EQ(with([](VnetHdr&, auto& x) { x[14 + 9] = 17; }, f), SegmentError::kMalformed);  // UDP
  EXPECT_EQ(with([](VnetHdr&, auto& x) { x[12] = 0x81; }, f), SegmentError::kMalformed);    // VLAN
  EXPECT_EQ(with([](VnetHdr&, auto& x) { x.resize(74), set16(x.data() + 16, 60), x[46] = 0xf0; }, f),
            SegmentError::kMalformed);  // a TCP header (60) longer than what is left (40)
  EXPECT_EQ(with(
                [](VnetHdr&, auto& x) {
                  x.resize(54);
                  set16(x.data() + 16, 40);
                },
                f),
            SegmentError::kMalformed);  // no payload
  EXPECT_EQ(seg.split(tsoHdr(s, 1000), f, 1000, &out), SegmentError::kTooBig);
  EXPECT_EQ(seg.split(VnetHdr{}, f, 1000, &out), SegmentError::kTooBig);
  EXPECT_EQ(seg.split(VnetHdr{kVnetNeedsCsum, 0, 0, 0, 60, 0}, std::span(f).first(61), 9216, &out),
            SegmentError::kMalformed);  // checksum field past the end
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(with(nothing, f), SegmentError::kNone);
}

// Splits a super-frame, coalesces the segments back.
std::vector<uint8_t> roundTrip(const Spec& s, uint16_t gso, VnetHdr* hdr, size_t* segments) {
  auto f = superFrame(s);
  Segmenter seg;
  std::vector<std::span<const uint8_t>> out;
  EXPECT_EQ(seg.split(tsoHdr(s, gso), f, 9216, &out), SegmentError::kNone);
  Coalescer c;
  for (const auto& o : out) EXPECT_TRUE(c.add(o));
  EXPECT_TRUE(c.closed());  // the last segment is short or carries PSH
  *segments = c.segments();
  auto t = c.take();
  EXPECT_EQ(c.segments(), 0u);
  *hdr = decodeVnetHdr(t.first<kVnetHdrSize>());
  return std::vector<uint8_t>(t.begin() + kVnetHdrSize, t.end());
}

TEST(Coalescer, SegmentsBecomeTheSuperFrameAgain) {
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6);
    Spec s{.v6 = v6, .tcpOptions = 12, .payload = 5000};
    VnetHdr h;
    size_t n = 0;
    auto got = roundTrip(s, 1448, &h, &n);
    EXPECT_EQ(n, 4u);
    EXPECT_EQ(h, tsoHdr(s, 1448));
    auto want = superFrame(s);
    ASSERT_EQ(got.size(), want.size());
    // Headers and payload as sent, but the TCP checksum field: the pseudo
    // header's sum over the whole length (what NEEDS_CSUM expects there).
    const size_t check = l4Of(s) + 16;
    EXPECT_EQ(get16(got.data() + check), pseudo(got.data(), v6, got.size() - l4Of(s)));
    got[check] = want[check], got[check + 1] = want[check + 1];
    if (!v6) {
      EXPECT_EQ(refSum(got.data() + 14, 20), 0xffffu);
      got[24] = want[24], got[25] = want[25];  // IPv4 header checksum
    }
    EXPECT_EQ(got, want);
    // And cut again, it gives frames a stack accepts.
    Segmenter seg;
    std::vector<std::span<const uint8_t>> out;
    ASSERT_EQ(seg.split(h, got, 9216, &out), SegmentError::kNone);
    EXPECT_EQ(out.size(), 4u);
    for (const auto& o : out) expectValidFrame(o, s);
  }
}

TEST(Coalescer, OneSegmentGoesOutUnchangedBehindAZeroHeader) {
  Spec s{.payload = 100};
  auto f = superFrame(s);
  Segmenter seg;
  std::vector<std::span<const uint8_t>> out;
  ASSERT_EQ(seg.split(tsoHdr(s, 1448), f, 9216, &out), SegmentError::kNone);
  std::vector<uint8_t> one(out[0].begin(), out[0].end());
  Coalescer c;
  ASSERT_TRUE(c.add(one));
  auto t = c.take();
  EXPECT_EQ(decodeVnetHdr(t.first<kVnetHdrSize>()), VnetHdr{});
  EXPECT_TRUE(std::equal(t.begin() + kVnetHdrSize, t.end(), one.begin(), one.end()));
  EXPECT_TRUE(c.take().empty());
}

TEST(Coalescer, RefusesWhatMustNotJoin) {
  Spec s{.payload = 4000, .flags = kAck};
  auto f = superFrame(s);
  Segmenter seg;
  std::vector<std::span<const uint8_t>> out;
  ASSERT_EQ(seg.split(tsoHdr(s, 1000), f, 9216, &out), SegmentError::kNone);
  ASSERT_EQ(out.size(), 4u);
  std::vector<std::vector<uint8_t>> segs;
  for (const auto& o : out) segs.emplace_back(o.begin(), o.end());
  auto refuse = [&](auto change, size_t which) {
    Coalescer c;
    EXPECT_TRUE(c.add(segs[0]));
    auto x = segs[which];
    change(x);
    return !c.add(x) && c.segments() == 1;
  };
  auto fixTcp = [&](std::vector<uint8_t>& x) {  // a valid checksum again after a change
    set16(x.data() + 34 + 16, 0);
    set16(x.data() + 34 + 16, static_cast<uint16_t>(~refSum(x.data() + 34, x.size() - 34,
                                                            pseudo(x.data(), false, x.size() - 34))));
  };
  EXPECT_TRUE(refuse([](auto&) {}, 2)) << "out of sequence";
  EXPECT_TRUE(refuse([](auto&) {}, 0)) << "a duplicate";
  EXPECT_TRUE(refuse([&](auto& x) { x[35] ^= 1, fixTcp(x); }, 1)) << "another port";
  EXPECT_TRUE(refuse([&](auto& x) { x[34 + 13] |= kSyn, fixTcp(x); }, 1)) << "SYN";
  EXPECT_TRUE(refuse([&](auto& x) { x[34 + 13] |= kFin, fixTcp(x); }, 1)) << "FIN";
  EXPECT_TRUE(refuse([&](auto& x) { x[34 + 9] ^= 1, fixTcp(x); }, 1)) << "another ack";
  EXPECT_TRUE(refuse([](auto& x) { x.back() ^= 1; }, 1)) << "a bad TCP checksum";
  EXPECT_TRUE(refuse([](auto& x) { x[22] ^= 1; }, 1)) << "a bad IP checksum (TTL changed)";
  {
    Coalescer c;  // a PSH closes the super-frame
    auto x = segs[0];
    x[34 + 13] |= kPsh;
    fixTcp(x);
    EXPECT_TRUE(c.add(x));
    EXPECT_TRUE(c.closed());
    EXPECT_FALSE(c.add(segs[1]));
  }
  {
    Coalescer c;  // a pure ACK never joins
    std::vector<uint8_t> ack(segs[0].begin(), segs[0].begin() + 54);
    set16(ack.data() + 16, 40);
    set16(ack.data() + 24, 0);
    set16(ack.data() + 24, static_cast<uint16_t>(~refSum(ack.data() + 14, 20)));
    fixTcp(ack);
    EXPECT_FALSE(c.add(ack));
    EXPECT_EQ(c.segments(), 0u);
  }
  // All four in order join, and the segment after them must follow on.
  Coalescer c;
  for (const auto& x : segs) EXPECT_TRUE(c.add(x));
  EXPECT_FALSE(c.closed());
  EXPECT_EQ(c.segments(), 4u);
}

// takePieces() is take() without the copy: the virtio_net_hdr and headers,
// then each segment's payload where add() found it.
TEST(Coalescer, PiecesAreTheSuperFrameWithPayloadsInPlace) {
  Spec s{.payload = 4000, .flags = kAck | kPsh};
  auto f = superFrame(s);
  Segmenter seg;
  std::vector<std::span<const uint8_t>> out;
  ASSERT_EQ(seg.split(tsoHdr(s, 1000), f, 9216, &out), SegmentError::kNone);
  Coalescer a, b;
  for (const auto& o : out) {
    EXPECT_TRUE(a.add(o));
    EXPECT_TRUE(b.add(o));
  }
  auto joined = a.take();
  auto pieces = b.takePieces();
  ASSERT_EQ(pieces.size(), 1 + out.size());
  EXPECT_EQ(pieces[0].size(), kVnetHdrSize + hdrOf(s));
  std::vector<uint8_t> all;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i > 0) {
      EXPECT_EQ(pieces[i].data(), out[i - 1].data() + hdrOf(s)) << "payload " << i << " not copied";
    }
    all.insert(all.end(), pieces[i].begin(), pieces[i].end());
  }
  EXPECT_TRUE(std::equal(all.begin(), all.end(), joined.begin(), joined.end()));
  EXPECT_TRUE(b.takePieces().empty());
  EXPECT_EQ(b.segments(), 0u);
}

// However small the segments, one super-frame joins at most
// kMaxCoalescedSegments (one writev of at most that many payloads + 1).
TEST(Coalescer, JoinsAtMostTheSegmentLimit) {
  const size_t n = kMaxCoalescedSegments + 6;
  Spec s{.payload = 64 * n, .flags = kAck};
  auto f = superFrame(s);
  Segmenter seg;
  std::vector<std::span<const uint8_t>> out;
  ASSERT_EQ(seg.split(tsoHdr(s, 64), f, 9216, &out), SegmentError::kNone);
  ASSERT_EQ(out.size(), n);
  Coalescer c;
  for (size_t i = 0; i < kMaxCoalescedSegments; ++i) EXPECT_TRUE(c.add(out[i])) << i;
  EXPECT_TRUE(c.closed());
  EXPECT_FALSE(c.add(out[kMaxCoalescedSegments]));
  auto pieces = c.takePieces();
  EXPECT_EQ(pieces.size(), kMaxCoalescedSegments + 1);
  const VnetHdr h = decodeVnetHdr(pieces[0].first<kVnetHdrSize>());
  EXPECT_EQ(h.gsoSize, 64u);
  EXPECT_EQ(h.flags, kVnetNeedsCsum);
  // The rest start the next super-frame, in sequence.
  for (size_t i = kMaxCoalescedSegments; i < n; ++i) EXPECT_TRUE(c.add(out[i])) << i;
  EXPECT_EQ(c.segments(), n - kMaxCoalescedSegments);
}

TEST(Coalescer, StopsAt64KiB) {
  Spec s{.payload = 65535 - 40, .flags = kAck};
  auto f = superFrame(s);
  Segmenter seg;
  std::vector<std::span<const uint8_t>> out;
  ASSERT_EQ(seg.split(tsoHdr(s, 1460), f, 9216, &out), SegmentError::kNone);
  Coalescer c;
  size_t joined = 0;
  for (const auto& o : out) joined += c.add(o);
  auto t = c.take();
  EXPECT_LE(t.size(), kVnetHdrSize + kMaxSuperFrame);
  EXPECT_EQ(joined, out.size());
  EXPECT_EQ(get16(t.data() + kVnetHdrSize + 16), t.size() - kVnetHdrSize - 14);
}

TEST(OnesSum, MatchesTheReferenceForAnyLengthAndAlignment) {
  std::vector<uint8_t> d(300);
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(i * 131 + 7);
  for (size_t off : {0, 1, 2, 3}) {
    for (size_t n = 0; n + off <= d.size(); n += 1) {
      uint16_t mine = onesSum(std::span(d).subspan(off, n));
      // Memory order -> the reference's big-endian value.
      const uint8_t* b = reinterpret_cast<const uint8_t*>(&mine);
      uint32_t want = refSum(d.data() + off, n);
      EXPECT_EQ(static_cast<uint32_t>(b[0] << 8 | b[1]), want) << off << " " << n;
    }
  }
}

}  // namespace
}  // namespace weft::datapath
