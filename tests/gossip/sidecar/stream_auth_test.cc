// The gossip TCP port before authentication (issue 10, finding 2): a real
// weft-gossip on a loopback address, fed by a hostile client.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "gossip/daemon/socket_transport.h"
#include "gossip/messages.h"
#include "gossip/seal.h"
#include "tests/gossip/sidecar/sidecar_harness.h"
#include "tests/support/temp_dir.h"

namespace weft::test {
namespace {

using gossip::kConnTimeout;
using gossip::kHelloTimeout;
using gossip::kMaxHelloFrame;
using gossip::kMaxIncomingConns;
using gossip::kMaxStreamFrame;
using gossip::kMaxUnauthConns;
using gossip::kUnauthConnBudget;
using gossip::kUnauthGlobalBudget;

int connectTo(const std::string& ip, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends what the socket takes without blocking; returns the bytes sent.
size_t sendSome(int fd, const std::vector<uint8_t>& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  return off;
}

// Whether the server closed the connection within `ms`.
bool closedByPeer(int fd, int ms) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  uint8_t buf[4096];
  for (auto now = std::chrono::steady_clock::now(); now < end; now = std::chrono::steady_clock::now()) {
    pollfd p{fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - now).count();
    if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(50, left + 1))) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN)) return true;
  }
  return false;
}

std::vector<uint8_t> lengthPrefix(uint32_t len) {
  uint32_t n = htonl(len);
  const auto* p = reinterpret_cast<const uint8_t*>(&n);
  return {p, p + 4};
}

struct Fds {
  std::vector<int> fds;
  ~Fds() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
};

// A hello as a peer with the cluster key seals it for `receiverAddr`.
std::vector<uint8_t> validHello(const std::string& receiverAddr, uint64_t seq) {
  gossip::Key key;
  key.fill('A');  // kKeyA
  auto plain = gossip::encodeEnvelopeHeader("127.0.0.9", 1, seq, 0, gossip::receiverTag(receiverAddr), 0);
  auto hello = gossip::seal(gossip::Keyring(key), "weft", plain);
  auto framed = lengthPrefix(static_cast<uint32_t>(hello.size()));
  framed.insert(framed.end(), hello.begin(), hello.end());
  return framed;
}

class StreamAuth : public ::testing::Test {
 protected:
  TempDir dir_{"weft-stream-auth"};
  std::string ip_ = "127.0.0.2";
  int port_ = testPort();
  std::string addr_ = ip_ + ":" + std::to_string(port_);
};

// 20 connections each announcing an 8 MiB frame and sending 1 MiB of it: the
// sidecar must neither buffer it nor keep the connections.
TEST_F(StreamAuth, LargeFrameBeforeHelloIsRefusedAtOnceAndNeverBuffered) {
  Sidecar s({.id = ip_, .addr = addr_}, dir_ / "gossip.log");
  ASSERT_TRUE(s.ready()) << s.log();
  Fds c;
  std::vector<uint8_t> junk(1 << 20, 0x5a);
  for (int i = 0; i < 20; ++i) {
    int fd = connectTo(ip_, port_);
    ASSERT_GE(fd, 0);
    c.fds.push_back(fd);
    sendSome(fd, lengthPrefix(8u << 20));
    sendSome(fd, junk);
  }
  // Just over the hello limit is as much too big.
  int fd = connectTo(ip_, port_);
  ASSERT_GE(fd, 0);
  c.fds.push_back(fd);
  auto over = lengthPrefix(kMaxHelloFrame + 1);
  over.resize(4 + kMaxHelloFrame + 1, 0x11);
  sendSome(fd, over);
  // Refused at the length prefix, well before any timeout.
  for (int f : c.fds) EXPECT_TRUE(closedByPeer(f, 1000));
  Json st = s.status();
  ASSERT_TRUE(st["stats"].contains("unauthBytesPeak")) << st.dump();
  const Json& t = st["stats"];
  EXPECT_LE(t["unauthConnBytesPeak"].get<uint64_t>(), kUnauthConnBudget);
  EXPECT_LE(t["unauthBytesPeak"].get<uint64_t>(), kUnauthGlobalBudget);
  EXPECT_GE(t["oversizedFrames"].get<uint64_t>(), 21u);
  EXPECT_EQ(t["unauthConnections"].get<uint64_t>(), 0u);
  EXPECT_TRUE(s.running());
}

// Many connections that send a hello-sized frame slowly: never more than
// kMaxUnauthConns of them at a time, never more than the budgets buffered,
// all gone after kHelloTimeout, and a real peer still joins meanwhile.
TEST_F(StreamAuth, SlowUnauthenticatedConnectionsAreCappedBudgetedAndTimedOut) {
  Sidecar s({.id = ip_, .addr = addr_}, dir_ / "gossip.log");
  ASSERT_TRUE(s.ready()) << s.log();
  Fds c;
  std::vector<uint8_t> partial = lengthPrefix(kMaxHelloFrame);
  partial.resize(4 + kMaxHelloFrame - 1, 0x33);  // one byte short of a whole hello
  for (size_t i = 0; i < 2 * kMaxUnauthConns; ++i) {
    int fd = connectTo(ip_, port_);
    ASSERT_GE(fd, 0);
    c.fds.push_back(fd);
    sendSome(fd, partial);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Json st = s.status();
  ASSERT_TRUE(st["stats"].contains("unauthBytesPeak")) << st.dump();
  EXPECT_LE(st["stats"]["unauthConnectionsPeak"].get<uint64_t>(), kMaxUnauthConns);
  EXPECT_LE(st["stats"]["unauthBytesPeak"].get<uint64_t>(), kUnauthGlobalBudget);
  EXPECT_LE(st["stats"]["unauthConnBytesPeak"].get<uint64_t>(), kUnauthConnBudget);
  EXPECT_GE(st["stats"]["refusedConnections"].get<uint64_t>(), kMaxUnauthConns);

  // A real peer joins through the flood of half-open connections.
  std::string peerAddr = "127.0.0.3:" + std::to_string(port_);
  Sidecar peer({.id = "127.0.0.3", .addr = peerAddr, .seeds = {addr_}}, dir_ / "peer.log");
  ASSERT_TRUE(peer.ready()) << peer.log();
  Json joined = s.statusUntil(
      [](const Json& j) {
        for (const auto& m : j["members"])
          if (m["id"] == "127.0.0.3" && m["state"] == "alive") return true;
        return false;
      },
      5000);
  EXPECT_NE(joined.dump().find("127.0.0.3"), std::string::npos) << joined.dump() << "\n" << s.log();

  // Past the hello deadline no unauthenticated connection is left.
  for (int fd : c.fds) EXPECT_TRUE(closedByPeer(fd, static_cast<int>(kHelloTimeout.count() * 1000 + 1000)));
  st = s.status();
  EXPECT_EQ(st["stats"]["unauthConnections"].get<uint64_t>(), 0u);
  EXPECT_EQ(st["stats"]["unauthBytes"].get<uint64_t>(), 0u);
}

// Peers that authenticate still face limits: kMaxIncomingConns at a time,
// kMaxStreamFrame per frame, kConnTimeout per connection.
TEST_F(StreamAuth, AuthenticatedConnectionsAreCappedAndTimedOutAndTheirFramesBounded) {
  Sidecar s({.id = ip_, .addr = addr_}, dir_ / "gossip.log");
  ASSERT_TRUE(s.ready()) << s.log();
  Fds c;
  uint64_t seq = 0;
  for (size_t i = 0; i < kMaxIncomingConns + 20; ++i) {
    int fd = connectTo(ip_, port_);
    ASSERT_GE(fd, 0);
    c.fds.push_back(fd);
    sendSome(fd, validHello(addr_, ++seq));
    // Paced like real peers, well under kMaxUnauthConns hellos in flight.
    if (i % 8 == 7) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  Json st = s.statusUntil(
      [&](const Json& j) { return j["stats"]["refusedConnections"].get<uint64_t>() >= 20; }, 3000);
  EXPECT_GE(st["stats"]["refusedConnections"].get<uint64_t>(), 20u) << st.dump();
  EXPECT_EQ(st["stats"]["helloFailures"].get<uint64_t>(), 0u) << st.dump();
  size_t closed = 0;
  for (int fd : c.fds) closed += closedByPeer(fd, 10) ? 1 : 0;
  EXPECT_GE(closed, 20u);
  EXPECT_LE(c.fds.size() - closed, kMaxIncomingConns);
  EXPECT_GE(c.fds.size() - closed, kMaxIncomingConns * 9 / 10) << "authenticated peers were not let in\n"
                                                               << st.dump();
  // Each one is closed once kConnTimeout has passed.
  auto deadline =
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(kConnTimeout).count());
  for (int fd : c.fds) EXPECT_TRUE(closedByPeer(fd, deadline + 1000));

  // An authenticated peer announcing more than kMaxStreamFrame is cut off at
  // the length prefix.
  int fd = connectTo(ip_, port_);
  ASSERT_GE(fd, 0);
  c.fds.push_back(fd);
  auto bytes = validHello(addr_, ++seq);
  auto big = lengthPrefix(static_cast<uint32_t>(kMaxStreamFrame + 1));
  bytes.insert(bytes.end(), big.begin(), big.end());
  sendSome(fd, bytes);
  EXPECT_TRUE(closedByPeer(fd, 1000));
  st = s.status();
  EXPECT_GE(st["stats"]["oversizedFrames"].get<uint64_t>(), 1u) << st.dump();
  EXPECT_TRUE(s.running());
}

}  // namespace
}  // namespace weft::test
