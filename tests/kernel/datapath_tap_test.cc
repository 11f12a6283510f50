// The encrypted datapath end to end on a real kernel: two network
// namespaces joined by a veth "underlay" (198.18.7.0/24), a persistent TAP
// in each (10.77.0.0/24), and a DatapathLoop per side moving frames between
// its TAP and its UDP socket. ICMP echo crosses; a capture on the underlay
// never shows the payload's marker while one on the far TAP does; a forged
// cleartext packet injected on the underlay is dropped and counted. Runs as
// root inside the suite's throwaway namespace; everything it makes is removed
// in TearDown, also when an assertion fails.

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <thread>

#include "datapath/loop.h"
#include "datapath/mtu.h"
#include "kernel/netlink_kernel.h"
#include "kernel/netns_util.h"
#include "kernel/tap.h"
#include "tests/kernel/kernel_test_env.h"

namespace weft::kernel::testing {
namespace {

namespace dp = weft::datapath;
constexpr uint32_t kVni = 100;
constexpr uint16_t kPort = 4790;
constexpr uint32_t kIdA = 0xc6120701, kIdB = 0xc6120702;
const std::string kMarker = "WEFT-PLAINTEXT-MARKER-7f3a";
const std::string kForged = "WEFT-FORGED-CLEARTEXT-91c2";

bool contains(const std::vector<uint8_t>& pkt, const std::string& s) {
  return std::search(pkt.begin(), pkt.end(), s.begin(), s.end()) != pkt.end();
}

uint16_t inetChecksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

struct Side {
  Netns ns;
  std::string underlay, inner;
  std::vector<Fd> queues;
  Fd udp;
  std::unique_ptr<dp::Datapath> datapath;
  std::unique_ptr<dp::DatapathLoop> loop;
  std::thread thread;
};

class DatapathTapTest : public ::testing::Test {
 protected:
  std::unique_ptr<NetlinkKernel> k_;
  Side a_, b_;
  std::vector<Netns> made_;

  void SetUp() override {
    if (!realKernelAvailable()) GTEST_SKIP() << "needs root (TAP devices, namespaces)";
    k_ = std::make_unique<NetlinkKernel>(stateDir() + "/netns");
  }

  void TearDown() override {
    for (Side* s : {&a_, &b_}) {
      if (s->loop) s->loop->stop();
      if (s->thread.joinable()) s->thread.join();
      s->queues.clear();
      s->udp = Fd();
    }
    if (!k_) return;
    for (const auto& ns : made_) EXPECT_TRUE(k_->deleteNetns(ns).okOr(ENOENT)) << ns;
    auto left = k_->listNetns();
    ASSERT_TRUE(left.ok());
    for (const auto& ns : made_)
      EXPECT_EQ(std::count(left->begin(), left->end(), ns), 0) << ns << " left behind";
  }

  std::string path(const Side& s) { return k_->netnsPath(s.ns); }

  // Namespace, underlay address, TAP with its inner address, socket.
  void buildSide(Side& s, const std::string& name, const std::string& underlay, const std::string& inner) {
    s.ns = name + "-" + std::to_string(::getpid());
    s.underlay = underlay;
    s.inner = inner;
    ASSERT_OK(k_->createNetns(s.ns));
    made_.push_back(s.ns);
  }

  void configure(Side& s) {
    ASSERT_OK(k_->addAddress(s.ns, "ul0", s.underlay + "/24"));
    ASSERT_OK(k_->setLinkUp(s.ns, "ul0", true));
    auto q = openTapQueues(path(s), TapSpec{"wtap0", 1});
    ASSERT_OK(q);
    s.queues = std::move(*q);
    ASSERT_OK(k_->setMtu(s.ns, "wtap0", dp::innerMtu(1500, false)));
    ASSERT_OK(k_->addAddress(s.ns, "wtap0", s.inner + "/24"));
    ASSERT_OK(k_->setLinkUp(s.ns, "wtap0", true));
    auto udp = openDatapathSocket(path(s), s.underlay, kPort);
    ASSERT_OK(udp);
    s.udp = std::move(*udp);
  }

  void startDatapath(Side& s, const std::string& self, uint32_t selfId, const Side& peer,
                     const std::string& peerHost, uint32_t peerId) {
    s.datapath = std::make_unique<dp::Datapath>(self, selfId);
    ASSERT_OK(s.datapath->addNetwork(kVni, "net-kernel-test", std::vector<uint8_t>(32, 0x6b), {}, kPort));
    ASSERT_OK(s.datapath->addPeer(kVni, {peerHost, peerId, peer.underlay, 1, 0}, dp::Clock::now()));
    ASSERT_OK(s.datapath->forwarding(kVni)->addFloodPeer(peer.underlay));
    // The peer's TAP MAC as the PeerTable would report it: unicast path.
    auto link = k_->getLink(peer.ns, "wtap0");
    ASSERT_OK(link);
    ASSERT_OK(s.datapath->forwarding(kVni)->setMac(link->mac, peer.underlay));
    s.loop = std::make_unique<dp::DatapathLoop>(*s.datapath, s.udp.get(), kTapVnetHdrSize);
    ASSERT_OK(s.loop->addTap(kVni, s.queues[0].get()));
    s.thread = std::thread([loop = s.loop.get()] { EXPECT_TRUE(loop->run()); });
  }

  // A socket opened inside the side's namespace (from a short-lived thread).
  Fd socketIn(const Side& s, int domain, int type, int proto) {
    auto ns = openNetnsFile(path(s));
    EXPECT_TRUE(ns.ok());
    Fd out;
    EXPECT_OK(runInNetns(ns->get(), [&]() -> Status {
      out = Fd(::socket(domain, type | SOCK_CLOEXEC, proto));
      return out ? Status::Ok() : Error::fromErrno(errno, "socket");
    }));
    return out;
  }

  Fd capture(const Side& s, const std::string& dev) {
    auto link = k_->getLink(s.ns, dev);
    EXPECT_TRUE(link.ok());
    Fd fd = socketIn(s, AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
    const int buf = 8 << 20;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    sockaddr_ll ll{};
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons(ETH_P_ALL);
    ll.sll_ifindex = link.ok() ? link->ifindex : 0;
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&ll), sizeof ll), 0) << std::strerror(errno);
    return fd;
  }

  static std::vector<std::vector<uint8_t>> drain(const Fd& fd) {
    std::vector<std::vector<uint8_t>> out;
    std::vector<uint8_t> buf(70000);
    for (;;) {
      ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) return out;
      out.emplace_back(buf.begin(), buf.begin() + n);
    }
  }

  // ICMP echo from `from` to `to` with the marker as payload; true on reply.
  bool ping(const Fd& icmp, const std::string& to, uint16_t seq) {
    std::vector<uint8_t> msg(8 + kMarker.size());
    msg[0] = ICMP_ECHO;
    const uint16_t id = static_cast<uint16_t>(::getpid());
    msg[4] = static_cast<uint8_t>(id >> 8);
    msg[5] = static_cast<uint8_t>(id);
    msg[6] = static_cast<uint8_t>(seq >> 8);
    msg[7] = static_cast<uint8_t>(seq);
    std::memcpy(msg.data() + 8, kMarker.data(), kMarker.size());
    const uint16_t c = inetChecksum(msg.data(), msg.size());
    msg[2] = static_cast<uint8_t>(c >> 8);
    msg[3] = static_cast<uint8_t>(c);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    inet_pton(AF_INET, to.c_str(), &dst.sin_addr);
    if (::sendto(icmp.get(), msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) < 0)
      return false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    std::vector<uint8_t> buf(2000);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{icmp.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      ssize_t n = ::recv(icmp.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 28) continue;
      const size_t ihl = (buf[0] & 0xf) * 4u;  // raw ICMP sockets see the IP header
      const uint8_t* icmpReply = buf.data() + ihl;
      if (icmpReply[0] == ICMP_ECHOREPLY && (icmpReply[4] << 8 | icmpReply[5]) == id &&
          (icmpReply[6] << 8 | icmpReply[7]) == seq)
        return true;
    }
    return false;
  }
};

TEST_F(DatapathTapTest, PingCrossesEncryptedAndForgedCleartextIsDropped) {
  ASSERT_NO_FATAL_FAILURE(buildSide(a_, "dpa", "198.18.7.1", "10.77.0.1"));
  ASSERT_NO_FATAL_FAILURE(buildSide(b_, "dpb", "198.18.7.2", "10.77.0.2"));
  ASSERT_OK(k_->createVeth(a_.ns, "ul0", b_.ns, "ul0", 1500));
  ASSERT_NO_FATAL_FAILURE(configure(a_));
  ASSERT_NO_FATAL_FAILURE(configure(b_));

  // Persistent: the TAP outlives its queues, and opening it again attaches.
  a_.queues.clear();
  ASSERT_OK(k_->getLink(a_.ns, "wtap0"));
  auto again = openTapQueues(path(a_), TapSpec{"wtap0", 1});
  ASSERT_OK(again);
  a_.queues = std::move(*again);

  Fd wire = capture(a_, "ul0"), farTap = capture(b_, "wtap0");
  ASSERT_NO_FATAL_FAILURE(startDatapath(a_, "host-a", kIdA, b_, "host-b", kIdB));
  ASSERT_NO_FATAL_FAILURE(startDatapath(b_, "host-b", kIdB, a_, "host-a", kIdA));

  Fd icmp = socketIn(a_, AF_INET, SOCK_RAW, IPPROTO_ICMP);
  int replies = 0;
  for (uint16_t seq = 1; seq <= 3; ++seq) replies += ping(icmp, b_.inner, seq);
  EXPECT_EQ(replies, 3);

  // Forged: a well-formed header for the network and A's sender id, a
  // cleartext frame to B's TAP behind it, a zero tag; and a bare frame.
  // Broadcast from 02:00:00:00:00:66, ethertype 0x88b5, the forged marker.
  std::vector<uint8_t> frame(64, 0);
  const uint8_t eth[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x66, 0x88, 0xb5};
  std::memcpy(frame.data(), eth, sizeof eth);
  std::memcpy(frame.data() + sizeof eth, kForged.data(), kForged.size());
  std::vector<uint8_t> forged(dp::kHeaderSize);
  dp::encodeHeader(dp::Header{.vni = kVni, .senderId = kIdA, .keyEpoch = 1, .sequence = 1000},
                   std::span<uint8_t, dp::kHeaderSize>(forged.data(), dp::kHeaderSize));
  forged.insert(forged.end(), frame.begin(), frame.end());
  forged.resize(forged.size() + dp::kTagSize, 0);
  Fd attacker = socketIn(a_, AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(kPort);
  inet_pton(AF_INET, b_.underlay.c_str(), &to.sin_addr);
  for (const auto& pkt : {forged, frame})
    ASSERT_EQ(
        ::sendto(attacker.get(), pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
        static_cast<ssize_t>(pkt.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  for (Side* s : {&a_, &b_}) {
    s->loop->stop();
    s->thread.join();
  }
  // Counters are read once the loops' threads are gone.
  const dp::Counters* fromA = b_.datapath->peerCounters(kVni, kIdA);
  ASSERT_NE(fromA, nullptr);
  EXPECT_GE(fromA->openedPackets, 3u);
  EXPECT_EQ(fromA->authFailed, 1u);
  EXPECT_EQ(b_.datapath->unattributed().badVersion, 1u);  // the bare frame starts 0xff

  size_t datapathPackets = 0;
  for (const auto& pkt : drain(wire)) {
    EXPECT_FALSE(contains(pkt, kMarker)) << "plaintext marker on the underlay";
    // IPv4 / UDP to or from the datapath port.
    if (pkt.size() > 42 && pkt[12] == 0x08 && pkt[13] == 0x00 && pkt[23] == IPPROTO_UDP &&
        ((pkt[36] << 8 | pkt[37]) == kPort || (pkt[34] << 8 | pkt[35]) == kPort))
      ++datapathPackets;
  }
  EXPECT_GE(datapathPackets, 6u);  // 3 requests and 3 replies at least: the capture saw traffic
  bool markerOnTap = false;
  for (const auto& pkt : drain(farTap)) {
    markerOnTap |= contains(pkt, kMarker);
    EXPECT_FALSE(contains(pkt, kForged)) << "forged frame delivered";
  }
  EXPECT_TRUE(markerOnTap) << "the far TAP never saw the echo in clear";

  // TAPs are links like any other: deleted by the shim.
  for (Side* s : {&a_, &b_}) {
    s->queues.clear();
    ASSERT_OK(k_->deleteLink(s->ns, "wtap0"));
    EXPECT_EQ(k_->getLink(s->ns, "wtap0").code(), ENOENT);
  }
}

TEST(DatapathTap, BadSpecsAreRefused) {
  EXPECT_EQ(openTapQueues("", TapSpec{"", 1}).code(), EINVAL);
  EXPECT_EQ(openTapQueues("", TapSpec{"a-name-of-16-chr", 1}).code(), EINVAL);
  EXPECT_EQ(openTapQueues("", TapSpec{"wt", 0}).code(), EINVAL);
  auto many = openTapQueues("", TapSpec{"wt", kMaxTapQueues + 1});
  ASSERT_FALSE(many.ok());
  EXPECT_NE(many.error().message.find("queues"), std::string::npos);
  EXPECT_EQ(openDatapathSocket("", "not-an-address", 4790).code(), EINVAL);
  EXPECT_EQ(openTapQueues("/nonexistent/netns", TapSpec{"wt", 1}).code(), ENOENT);
}

}  // namespace
}  // namespace weft::kernel::testing
