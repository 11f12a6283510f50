// The datapath loop over real sockets without root: a SOCK_SEQPACKET
// socketpair stands in for each TAP queue (one frame per read, like a TAP),
// and the two hosts' UDP sockets sit on 127.0.0.1 and 127.0.0.2.

#include "datapath/loop.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "tests/datapath/tcp_frames.h"

namespace weft::datapath {
namespace {

constexpr uint32_t kVni = 300, kIdA = 1, kIdB = 2;
constexpr size_t kHdr = 10;

struct OwnedFd {
  int fd = -1;
  ~OwnedFd() {
    if (fd >= 0) ::close(fd);
  }
};

int udpOn(const char* ip, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

uint16_t portOf(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// An Ethernet frame to `dst` carrying `payload`.
std::vector<uint8_t> ethFrame(std::array<uint8_t, 6> dst, const std::string& payload) {
  // Source 02:00:00:00:00:aa, local experimental ethertype 0x88b5.
  const uint8_t rest[] = {0x02, 0, 0, 0, 0, 0xaa, 0x88, 0xb5};
  std::vector<uint8_t> f(14 + payload.size());
  std::copy(dst.begin(), dst.end(), f.begin());
  std::copy(std::begin(rest), std::end(rest), f.begin() + 6);
  std::copy(payload.begin(), payload.end(), f.begin() + 14);
  return f;
}

struct Host {
  Datapath dp;
  OwnedFd udp, tapLoop, tapTest;  // tapLoop: the loop's end; tapTest: the "kernel" side
  std::unique_ptr<DatapathLoop> loop;
  Host(const char* name, uint32_t id) : dp(name, id) {}
};

class LoopTest : public ::testing::Test {
 protected:
  Host a{"host-a", kIdA}, b{"host-b", kIdB};
  uint16_t port = 0;
  const Clock::time_point now = Clock::now();

  void SetUp() override {
    b.udp.fd = udpOn("127.0.0.2", 0);
    ASSERT_GE(b.udp.fd, 0);
    port = portOf(b.udp.fd);
    a.udp.fd = udpOn("127.0.0.1", port);
    if (a.udp.fd < 0) GTEST_SKIP() << "port " << port << " taken on 127.0.0.1";
    for (auto [h, self, peer, peerHost, peerId] : {std::tuple{&a, "127.0.0.1", "127.0.0.2", "host-b", kIdB},
                                                   {&b, "127.0.0.2", "127.0.0.1", "host-a", kIdA}}) {
      int sv[2];
      ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
      h->tapLoop.fd = sv[0];
      h->tapTest.fd = sv[1];
      ASSERT_TRUE(h->dp.addNetwork(kVni, "loop-net", std::vector<uint8_t>(32, 9), {}, port));
      ASSERT_TRUE(h->dp.addPeer(kVni, {peerHost, peerId, peer, 1, 0}, now));
      ASSERT_TRUE(h->dp.forwarding(kVni)->addFloodPeer(peer));
      h->loop = std::make_unique<DatapathLoop>(h->dp, h->udp.fd, kHdr);
      ASSERT_TRUE(h->loop->addTap(kVni, h->tapLoop.fd));
    }
  }

  // What the kernel would write into the TAP: header + frame.
  void tapSend(Host& h, const std::vector<uint8_t>& frame, std::array<uint8_t, kHdr> hdr = {}) {
    std::vector<uint8_t> m(hdr.begin(), hdr.end());
    m.insert(m.end(), frame.begin(), frame.end());
    ASSERT_EQ(::write(h.tapTest.fd, m.data(), m.size()), static_cast<ssize_t>(m.size()));
  }
  // What the loop delivered into the TAP, without the header; empty if nothing.
  std::vector<uint8_t> tapReceive(Host& h) {
    std::vector<uint8_t> buf(70000);
    ssize_t n = ::read(h.tapTest.fd, buf.data(), buf.size());
    if (n < static_cast<ssize_t>(kHdr)) return {};
    EXPECT_TRUE(std::all_of(buf.begin(), buf.begin() + kHdr, [](uint8_t x) { return x == 0; }));
    return std::vector<uint8_t>(buf.begin() + kHdr, buf.begin() + n);
  }
  // Lets loopback deliver (it is synchronous, but be generous) and pumps B.
  size_t pumpB() {
    size_t n = 0;
    for (int i = 0; i < 50 && n == 0; ++i) {
      n = b.loop->fromUdp(now);
      if (n == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return n;
  }
};

TEST_F(LoopTest, AFrameCrossesFromTapToTapEncrypted) {
  auto f = ethFrame({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "hello across the encrypted datapath");
  tapSend(a, f);
  EXPECT_EQ(a.loop->fromTap(kVni, a.tapLoop.fd, now), 1u);
  EXPECT_EQ(a.loop->counters().udpSent, 1u);
  EXPECT_EQ(pumpB(), 1u);
  EXPECT_EQ(tapReceive(b), f);
  EXPECT_EQ(b.loop->counters().tapWritten, 1u);
  EXPECT_EQ(b.dp.peerCounters(kVni, kIdA)->openedFrames, 1u);
}

TEST_F(LoopTest, ABurstMovesInBatchesAndNothingIsLost) {
  constexpr int kFrames = 3 * DatapathLoop::kBatch + 5;
  for (int i = 0; i < kFrames; ++i)
    tapSend(a, ethFrame({0x02, 0, 0, 0, 0, 0xbb}, "frame " + std::to_string(i)));
  size_t read = 0;
  while (size_t n = a.loop->fromTap(kVni, a.tapLoop.fd, now)) {
    EXPECT_LE(n, DatapathLoop::kBatch);
    read += n;
  }
  EXPECT_EQ(read, static_cast<size_t>(kFrames));
  size_t got = 0;
  while (got < static_cast<size_t>(kFrames)) {
    size_t n = pumpB();
    if (n == 0) break;
    got += n;
  }
  EXPECT_EQ(got, static_cast<size_t>(kFrames));
  for (int i = 0; i < kFrames; ++i)
    EXPECT_EQ(tapReceive(b), ethFrame({0x02, 0, 0, 0, 0, 0xbb}, "frame " + std::to_string(i)));
}

TEST_F(LoopTest, APartialChecksumIsCompletedAndGsoFramesAreDropped) {
  auto f = ethFrame({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, std::string(40, 'c'));
  // NEEDS_CSUM: checksum over frame[14..], stored at 14 + 6.
  tapSend(a, f, {1, 0, 0, 0, 0, 0, 14, 0, 6, 0});
  tapSend(a, f, {0, 1 /* GSO_TCPV4 */, 0, 0, 0, 0, 0, 0, 0, 0});
  tapSend(a, f, {1, 0, 0, 0, 0, 0, 200, 0, 6, 0});  // checksum start past the end
  EXPECT_EQ(a.loop->fromTap(kVni, a.tapLoop.fd, now), 3u);
  EXPECT_EQ(a.loop->counters().tapDropped, 2u);
  ASSERT_EQ(pumpB(), 1u);
  auto got = tapReceive(b);
  ASSERT_EQ(got.size(), f.size());
  uint32_t sum = 0;
  for (size_t i = 14; i + 1 < got.size(); i += 2) sum += got[i] << 8 | got[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  // The field held the pseudo-header's partial sum ("cc"); with it, a
  // correct Internet checksum sums to all ones.
  sum += 0x6363;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  EXPECT_EQ(sum, 0xffffu);
}

TEST_F(LoopTest, ATcpSuperFrameCrossesAsSegmentsAndArrivesAsOneSuperFrame) {
  using namespace tcp_frames;
  Spec s{.tcpOptions = 12, .payload = 10 * 1400 + 300};
  auto f = superFrame(s);
  std::array<uint8_t, kHdr> hdr;
  encodeVnetHdr(tsoHdr(s, 1400), hdr);
  tapSend(a, f, hdr);
  EXPECT_EQ(a.loop->fromTap(kVni, a.tapLoop.fd, now), 1u);
  EXPECT_EQ(a.loop->counters().tapSuperFrames, 1u);
  EXPECT_EQ(a.loop->counters().udpSent, 11u);  // one sealed packet per segment, none over the MTU
  // ... sent as one UDP GSO message and received as one GRO buffer (the
  // loopback hands a GSO packet whole to a socket with UDP_GRO on).
  EXPECT_EQ(a.loop->counters().udpGsoSends, 1u);
  EXPECT_EQ(a.loop->counters().udpGsoRefused, 0u);
  size_t got = 0;
  while (got < 11 && pumpB() > 0) got = b.loop->counters().udpReceived;
  EXPECT_EQ(got, 11u);
  EXPECT_EQ(b.loop->counters().udpBuffers, 1u);
  EXPECT_EQ(b.loop->counters().tapCoalesced, 1u);
  std::vector<uint8_t> buf(70000);
  ssize_t n = ::read(b.tapTest.fd, buf.data(), buf.size());
  ASSERT_EQ(n, static_cast<ssize_t>(kHdr + f.size()));
  EXPECT_EQ(decodeVnetHdr(std::span<const uint8_t, kHdr>(buf.data(), kHdr)), tsoHdr(s, 1400));
  // The payload whole and in order.
  EXPECT_TRUE(std::equal(f.begin() + static_cast<long>(hdrOf(s)), f.end(),
                         buf.begin() + static_cast<long>(kHdr + hdrOf(s))));
  EXPECT_LT(::read(b.tapTest.fd, buf.data(), buf.size()), 0);  // nothing else
}

TEST_F(LoopTest, ForgedDatagramsNeverReachTheTap) {
  // Cleartext behind a plausible header, sent to B's datapath socket.
  std::vector<uint8_t> pkt(kHeaderSize);
  encodeHeader(Header{.vni = kVni, .senderId = kIdA, .keyEpoch = 1, .sequence = 5},
               std::span<uint8_t, kHeaderSize>(pkt.data(), kHeaderSize));
  auto f = ethFrame({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "FORGED");
  pkt.insert(pkt.end(), f.begin(), f.end());
  pkt.resize(pkt.size() + kTagSize);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.2", &to.sin_addr);
  OwnedFd attacker{::socket(AF_INET, SOCK_DGRAM, 0)};
  ASSERT_EQ(::sendto(attacker.fd, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            static_cast<ssize_t>(pkt.size()));
  ASSERT_EQ(pumpB(), 1u);
  EXPECT_TRUE(tapReceive(b).empty());
  EXPECT_EQ(b.dp.peerCounters(kVni, kIdA)->authFailed, 1u);
  EXPECT_EQ(b.loop->counters().tapWritten, 0u);
}

TEST_F(LoopTest, RunServesUntilStopped) {
  std::thread ta([&] { EXPECT_TRUE(a.loop->run()); });
  std::thread tb([&] { EXPECT_TRUE(b.loop->run()); });
  auto f = ethFrame({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "through run()");
  tapSend(a, f);
  std::vector<uint8_t> got;
  for (int i = 0; i < 500 && got.empty(); ++i) {
    got = tapReceive(b);
    if (got.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  a.loop->stop();
  b.loop->stop();
  ta.join();
  tb.join();
  EXPECT_EQ(got, f);
}

TEST(DatapathChecksum, OffsetsOutsideTheFrameAreRefused) {
  std::vector<uint8_t> f(20, 1);
  EXPECT_FALSE(completeChecksum(f, 20, 0));
  EXPECT_FALSE(completeChecksum(f, 10, 9));
  EXPECT_TRUE(completeChecksum(f, 10, 8));
  EXPECT_FALSE(completeChecksum({}, 0, 0));
}

}  // namespace
}  // namespace weft::datapath
