// DNS over TCP for the name responder (services/dns_tcp.h) on real loopback
// sockets: RFC 7766 framing (pipelined and split queries), and each limit
// -- connections at once, idle time, message length, unsent reply bytes.
#include "services/dns_tcp.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <thread>

using namespace weft;
using namespace weft::services;
using namespace std::chrono_literals;

namespace {

std::vector<uint8_t> query(const std::string& name, uint16_t id) {
  std::vector<uint8_t> m = {
      static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  m.push_back(static_cast<uint8_t>(name.size()));
  m.insert(m.end(), name.begin(), name.end());
  m.insert(m.end(), {0, 0, 1, 0, 1});
  return m;
}
std::vector<uint8_t> framed(const std::vector<uint8_t>& m) {
  std::vector<uint8_t> out(2 + m.size());
  out[0] = static_cast<uint8_t>(m.size() >> 8);
  out[1] = static_cast<uint8_t>(m.size());
  std::copy(m.begin(), m.end(), out.begin() + 2);
  return out;
}

// The answer: each name has `replicas` addresses; malformed: FORMERR.
std::vector<uint8_t> answerFor(std::span<const uint8_t> msg, int replicas) {
  auto q = parseQuery(msg);
  if (!q) return errorReply(msg, Rcode::kFormErr);
  std::vector<IpAddr> addrs;
  for (int i = 0; i < replicas; ++i)
    addrs.push_back(IpAddr::fromU128(AF_INET, 0x0a000000u + static_cast<unsigned>(i)));
  return buildAnswer(*q, Rcode::kNoError, addrs, 5, replyLimit(*q, Transport::kTcp));
}

class DnsTcpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    listen_ = kernel::Fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(listen_);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(listen_.get(), 16), 0);
    socklen_t len = sizeof addr_;
    ASSERT_EQ(::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&addr_), &len), 0);
  }
  void make(DnsTcpLimits limits, int replicas = 3) {
    server_ = std::make_unique<DnsTcpServer>(
        limits, [replicas, this](const std::string& net, const std::optional<IpAddr>& peer,
                                 std::span<const uint8_t> m) {
          networks_.push_back(net);
          peers_.push_back(peer ? peer->str() : "?");
          return answerFor(m, replicas);
        });
  }
  kernel::Fd connectClient() {
    kernel::Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(::connect(c.get(), reinterpret_cast<sockaddr*>(&addr_), sizeof addr_), 0);
    timeval tv{2, 0};
    ::setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return c;
  }
  // The responder's loop, as NameService runs it, for `d`.
  void pump(std::chrono::milliseconds d) {
    auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
      std::vector<pollfd> fds{{listen_.get(), POLLIN, 0}};
      server_->addPollFds(&fds);
      if (::poll(fds.data(), fds.size(), 5) > 0) {
        server_->handle(fds, 1);
        if (fds[0].revents & POLLIN) server_->accept("net-a", listen_.get());
      }
      server_->expire(std::chrono::steady_clock::now());
    }
  }
  void sendAll(int fd, const std::vector<uint8_t>& b) {
    ASSERT_EQ(::send(fd, b.data(), b.size(), 0), static_cast<ssize_t>(b.size()));
  }
  // One framed reply from the client's socket (pumping the server while
  // waiting); empty when the server closed the connection.
  std::vector<uint8_t> readReply(int fd) {
    std::vector<uint8_t> got;
    auto end = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < end) {
      if (got.size() >= 2 && got.size() >= 2u + (got[0] << 8 | got[1])) break;
      uint8_t buf[4096];
      size_t want = got.size() < 2 ? 2 - got.size() : 2u + (got[0] << 8 | got[1]) - got.size();
      ssize_t n = ::recv(fd, buf, std::min(want, sizeof buf), MSG_DONTWAIT);
      if (n == 0) return {};
      if (n < 0 && errno != EAGAIN) return {};
      if (n > 0)
        got.insert(got.end(), buf, buf + n);
      else
        pump(5ms);
    }
    if (got.size() < 2) return {};
    return {got.begin() + 2, got.end()};
  }
  // True when the server closed the client's connection (within ~1 s).
  bool closedByServer(int fd) {
    for (int i = 0; i < 100; ++i) {
      pump(10ms);
      uint8_t b;
      ssize_t n = ::recv(fd, &b, 1, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN)) return true;
    }
    return false;
  }
  static uint16_t u16(const std::vector<uint8_t>& m, size_t at) {
    return static_cast<uint16_t>(m[at] << 8 | m[at + 1]);
  }

  kernel::Fd listen_;
  sockaddr_in addr_{};
  std::unique_ptr<DnsTcpServer> server_;
  std::vector<std::string> networks_, peers_;
};

}  // namespace

TEST_F(DnsTcpTest, QueriesAreAnsweredInOrderWhetherPipelinedOrSplit) {
  make({}, 200);  // 200 addresses: more than UDP would carry
  auto c = connectClient();
  auto both = framed(query("web", 1));
  auto second = framed(query("db", 2));
  both.insert(both.end(), second.begin(), second.end());
  sendAll(c.get(), both);
  auto r1 = readReply(c.get());
  auto r2 = readReply(c.get());
  ASSERT_GE(r1.size(), 12u);
  ASSERT_GE(r2.size(), 12u);
  EXPECT_EQ(u16(r1, 0), 1);
  EXPECT_EQ(u16(r2, 0), 2);
  EXPECT_EQ(u16(r1, 6), 200);  // all of them, no TC
  EXPECT_EQ(r1[2] & 0x02, 0);
  // A query that comes a byte at a time.
  for (uint8_t b : framed(query("web", 3))) {
    sendAll(c.get(), {b});
    pump(1ms);
  }
  auto r3 = readReply(c.get());
  ASSERT_GE(r3.size(), 12u);
  EXPECT_EQ(u16(r3, 0), 3);
  EXPECT_EQ(networks_, (std::vector<std::string>{"net-a", "net-a", "net-a"}));
  EXPECT_EQ(peers_, (std::vector<std::string>{"127.0.0.1", "127.0.0.1", "127.0.0.1"}));  // who asks
  EXPECT_EQ(server_->counters().accepted, 1u);
}

TEST_F(DnsTcpTest, AMalformedQueryGetsFormErrAndTheConnectionStays) {
  make({});
  auto c = connectClient();
  auto bad = query("web", 7);
  bad[5] = 2;  // two questions
  sendAll(c.get(), framed(bad));
  auto r = readReply(c.get());
  ASSERT_EQ(r.size(), 12u);
  EXPECT_EQ(u16(r, 0), 7);
  EXPECT_EQ(r[3] & 0xf, 1);  // FORMERR
  sendAll(c.get(), framed(query("web", 8)));
  auto ok = readReply(c.get());
  ASSERT_GE(ok.size(), 12u);
  EXPECT_EQ(u16(ok, 6), 3);
}

TEST_F(DnsTcpTest, ConnectionsPastTheLimitAreClosedAtOnce) {
  make({.maxConnections = 2});
  auto a = connectClient();
  auto b = connectClient();
  pump(50ms);
  EXPECT_EQ(server_->connections(), 2u);
  auto c = connectClient();
  EXPECT_TRUE(closedByServer(c.get()));
  EXPECT_EQ(server_->counters().refused, 1u);
  EXPECT_EQ(server_->connections(), 2u);
  // The two within the limit still work.
  sendAll(a.get(), framed(query("web", 1)));
  EXPECT_EQ(readReply(a.get()).size() >= 12, true);
  // One closes: room for a new one.
  b = kernel::Fd();
  pump(50ms);
  EXPECT_EQ(server_->connections(), 1u);
  auto d = connectClient();
  sendAll(d.get(), framed(query("web", 2)));
  EXPECT_GE(readReply(d.get()).size(), 12u);
}

TEST_F(DnsTcpTest, AnIdleConnectionIsClosedAfterTheIdleTimeAndABusyOneIsNot) {
  make({.idle = 300ms});
  auto idle = connectClient();
  auto half = connectClient();
  auto busy = connectClient();
  sendAll(half.get(), {0, 20, 0xab});  // a query that never ends
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 6; ++i) {
    sendAll(busy.get(), framed(query("web", static_cast<uint16_t>(i))));
    ASSERT_GE(readReply(busy.get()).size(), 12u);
    pump(80ms);
  }
  // ~500 ms on: the two silent ones went, the busy one stays.
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
  EXPECT_TRUE(closedByServer(idle.get()));
  EXPECT_TRUE(closedByServer(half.get()));
  EXPECT_EQ(server_->counters().idleClosed, 2u);
  EXPECT_EQ(server_->connections(), 1u);
}

TEST_F(DnsTcpTest, ALengthOfZeroOrAboveTheQueryLimitClosesTheConnection) {
  make({});
  auto tooLong = connectClient();
  const size_t over = kMaxDnsMessage + 1;
  std::vector<uint8_t> prefix = {static_cast<uint8_t>(over >> 8), static_cast<uint8_t>(over)};
  prefix.resize(2 + over, 0);
  sendAll(tooLong.get(), prefix);
  EXPECT_TRUE(closedByServer(tooLong.get()));
  auto zero = connectClient();
  sendAll(zero.get(), {0, 0});
  EXPECT_TRUE(closedByServer(zero.get()));
  EXPECT_EQ(server_->counters().badFrames, 2u);
  // A query of exactly the limit's length is read (and answered FORMERR:
  // zeros are no query).
  auto atLimit = connectClient();
  std::vector<uint8_t> exact = {static_cast<uint8_t>(kMaxDnsMessage >> 8),
                                static_cast<uint8_t>(kMaxDnsMessage)};
  exact.resize(2 + kMaxDnsMessage, 0);
  sendAll(atLimit.get(), exact);
  auto r = readReply(atLimit.get());
  ASSERT_EQ(r.size(), 12u);
  EXPECT_EQ(r[3] & 0xf, 1);
}

TEST_F(DnsTcpTest, AClientThatDoesNotReadIsNotReadEitherAndGetsAllItsRepliesLater) {
  // Small socket buffers on both sides, so replies back up into the queue.
  make({.maxQueued = 2048}, 20);
  int small = 4096;
  ASSERT_EQ(::setsockopt(listen_.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  kernel::Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::setsockopt(c.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  ASSERT_EQ(::connect(c.get(), reinterpret_cast<sockaddr*>(&addr_), sizeof addr_), 0);
  // 400 queries (~13 KB) whose replies (~140 KB) cannot all be held.
  std::vector<uint8_t> burst;
  for (int i = 0; i < 400; ++i) {
    auto f = framed(query("web", static_cast<uint16_t>(i)));
    burst.insert(burst.end(), f.begin(), f.end());
  }
  sendAll(c.get(), burst);
  pump(200ms);
  // The server stopped reading that connection: no POLLIN asked for it.
  std::vector<pollfd> fds;
  server_->addPollFds(&fds);
  ASSERT_EQ(fds.size(), 1u);
  EXPECT_EQ(fds[0].events & POLLIN, 0);
  EXPECT_NE(fds[0].events & POLLOUT, 0);
  // The client reads: every reply comes, in order.
  for (int i = 0; i < 400; ++i) {
    auto r = readReply(c.get());
    ASSERT_GE(r.size(), 12u) << i;
    ASSERT_EQ(u16(r, 0), i);
  }
}

TEST(DnsFrameReader, SplitsMessagesAndStopsAtABadLength) {
  DnsFrameReader r(10);
  std::vector<uint8_t> msg;
  EXPECT_EQ(r.next(&msg), DnsFrameReader::Frame::kNone);
  r.feed(std::vector<uint8_t>{0, 3, 1, 2});
  EXPECT_EQ(r.next(&msg), DnsFrameReader::Frame::kNone);
  r.feed(std::vector<uint8_t>{3, 0, 1, 9, 0, 11});
  ASSERT_EQ(r.next(&msg), DnsFrameReader::Frame::kMessage);
  EXPECT_EQ(msg, (std::vector<uint8_t>{1, 2, 3}));
  ASSERT_EQ(r.next(&msg), DnsFrameReader::Frame::kMessage);
  EXPECT_EQ(msg, (std::vector<uint8_t>{9}));
  EXPECT_EQ(r.next(&msg), DnsFrameReader::Frame::kBad);  // 11 > 10
  r.feed(std::vector<uint8_t>{0, 1, 5});
  EXPECT_EQ(r.next(&msg), DnsFrameReader::Frame::kBad);  // and from then on
  EXPECT_EQ(r.buffered(), 0u);                           // nothing more is held
}
