// Service VIP tables (nftables) in a namespace named by its file, against
// both kernels; on the real kernel, what they do to a container's traffic.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>

#include "kernel/fake_kernel.h"
#include "kernel/netns_util.h"
#include "tests/kernel/kernel_test_env.h"

namespace weft::kernel::testing {
namespace {

using VipTest = KernelTest;

IpAddr ip(const char* s) { return *IpAddr::parse(s); }

TEST_P(VipTest, TablesAreSetReplacedAndRemoved) {
  Netns a = makeNs("vip");
  const std::string path = k().netnsPath(a);
  std::vector<ServiceVip> v1{{ip("10.88.0.2"), {ip("10.88.0.3"), ip("10.88.0.4")}},
                             {ip("fd00:88::2"), {ip("fd00:88::3")}},
                             {ip("10.88.0.6"), {}}};
  ASSERT_OK(k().setServiceVips(path, "net1", v1));
  ASSERT_OK(k().setServiceVips(path, "net2", {{ip("10.99.0.2"), {ip("10.99.0.3")}}}));
  ASSERT_OK(k().setServiceVips(path, "net1", {{ip("10.88.0.2"), {ip("10.88.0.5")}}}));
  ASSERT_OK(k().setServiceVips(path, "net1", {}));
  ASSERT_OK(k().setServiceVips(path, "net1", {}));  // removing what is gone is fine
  if (auto* fake = dynamic_cast<FakeKernel*>(&k())) {
    EXPECT_FALSE(fake->serviceVips(path, "net1").has_value());
    ASSERT_TRUE(fake->serviceVips(path, "net2").has_value());
    EXPECT_EQ(fake->serviceVips(path, "net2")->size(), 1u);
  }
}

TEST_P(VipTest, BadArgumentsChangeNothing) {
  Netns a = makeNs("vipe");
  const std::string path = k().netnsPath(a);
  EXPECT_ERRNO(k().setServiceVips(stateDir() + "/no-such-netns", "net1", {}), ENOENT);
  EXPECT_ERRNO(k().setServiceVips(path, "", {}), EINVAL);
  EXPECT_ERRNO(k().setServiceVips(path, "a b", {}), EINVAL);
  EXPECT_ERRNO(k().setServiceVips(path, std::string(33, 'x'), {}), EINVAL);
  EXPECT_ERRNO(k().setServiceVips(path, "net1", {{ip("10.88.0.2"), {ip("fd00::3")}}}), EINVAL);
  EXPECT_ERRNO(k().setServiceVips(path, "net1", {{IpAddr{}, {ip("10.88.0.3")}}}), EINVAL);
  std::vector<IpAddr> many(kMaxBackendsPerVip + 1, ip("10.88.0.3"));
  EXPECT_ERRNO(k().setServiceVips(path, "net1", {{ip("10.88.0.2"), many}}), EINVAL);
  std::vector<ServiceVip> tooMany(kMaxVipsPerTable + 1, ServiceVip{ip("10.88.0.2"), {ip("10.88.0.3")}});
  EXPECT_ERRNO(k().setServiceVips(path, "net1", tooMany), EINVAL);
  if (auto* fake = dynamic_cast<FakeKernel*>(&k())) {
    EXPECT_FALSE(fake->serviceVips(path, "net1").has_value());
  }
}

INSTANTIATE_TEST_SUITE_P(Both, VipTest, ::testing::Values(Impl::kFake, Impl::kNetlink), implName);

// --- the real kernel: connections to a VIP reach its backends ---

class VipTrafficTest : public KernelTest {
 protected:
  // A "container": an address on a link (so 10.88.0.0/24 is routable) and lo.
  Status makeContainer(const Netns& ns) {
    if (auto s = k().createVeth(ns, "d0", ns, "d1", 1500); !s) return s;
    for (const char* link : {"d0", "d1", "lo"})
      if (auto s = k().setLinkUp(ns, link, true); !s) return s;
    return k().addAddress(ns, "d0", "10.88.0.9/24");
  }
};

// A listening socket in the current thread's namespace.
int listenOn(int type, uint16_t port) {
  int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
  if (type == SOCK_STREAM && ::listen(fd, 64) != 0) return -1;
  return fd;
}

sockaddr_in addrOf(const char* s, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, s, &a.sin_addr);
  return a;
}

// Connects to dst:port (from local port `from`, when not 0); the local
// address the server side saw ("" when the connection failed, with errno in
// *err).
std::string connectAndSee(int listener, const char* dst, uint16_t port, int* err, int* keep = nullptr,
                          uint16_t from = 0) {
  int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (from != 0) {
    int one = 1;
    ::setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in src = addrOf("0.0.0.0", from);
    if (::bind(c, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      *err = errno;
      ::close(c);
      return "";
    }
  }
  sockaddr_in a = addrOf(dst, port);
  ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
  pollfd p{c, POLLOUT, 0};
  *err = ETIMEDOUT;
  std::string seen;
  if (::poll(&p, 1, 500) == 1) {
    socklen_t l = sizeof *err;
    ::getsockopt(c, SOL_SOCKET, SO_ERROR, err, &l);
    if (*err == 0) {
      int s = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      sockaddr_in local{};
      socklen_t ll = sizeof local;
      ::getsockname(s, reinterpret_cast<sockaddr*>(&local), &ll);
      char buf[INET_ADDRSTRLEN];
      seen = ::inet_ntop(AF_INET, &local.sin_addr, buf, sizeof buf);
      if (keep) {
        *keep = c;
        ::close(s);
        return seen;
      }
      ::close(s);
    }
  }
  ::close(c);
  return seen;
}

TEST_P(VipTrafficTest, ConnectionsToAVipAreSpreadOverItsBackendsAndFollowChanges) {
  if (!realKernelAvailable()) GTEST_SKIP() << "needs root (real kernel)";
  Netns ns = makeNs("vipt");
  const std::string path = k().netnsPath(ns);
  ASSERT_OK(makeContainer(ns));
  ASSERT_OK(k().setServiceVips(
      path, "t", {{ip("10.88.0.2"), {ip("10.88.0.9"), ip("127.0.0.1")}}, {ip("10.88.0.7"), {}}}));
  auto fd = openNetnsFile(path);
  ASSERT_TRUE(fd.ok());
  Status st = runInNetns(fd->get(), [&]() -> Status {
    constexpr uint16_t kPort = 8080;
    int l = listenOn(SOCK_STREAM, kPort);
    if (l < 0) return Error{errno, "listen"};
    int err = 0;
    std::map<std::string, int> hits;
    for (int i = 0; i < 6; ++i) ++hits[connectAndSee(l, "10.88.0.2", kPort, &err)];
    EXPECT_EQ(hits["10.88.0.9"], 3);
    EXPECT_EQ(hits["127.0.0.1"], 3);
    // A connection made before a change stays on its backend.
    int kept = -1;
    std::string keptAt;
    for (int i = 0; i < 2 && keptAt != "10.88.0.9"; ++i)
      keptAt = connectAndSee(l, "10.88.0.2", kPort, &err, &kept);
    EXPECT_EQ(keptAt, "10.88.0.9");
    // A VIP without backends refuses at once.
    EXPECT_EQ(connectAndSee(l, "10.88.0.7", kPort, &err), "");
    EXPECT_EQ(err, ECONNREFUSED);
    // The backend 10.88.0.9 leaves: new connections go to the other at once.
    if (auto s = k().setServiceVips(path, "t", {{ip("10.88.0.2"), {ip("127.0.0.1")}}}); !s) return s;
    for (int i = 0; i < 4; ++i) EXPECT_EQ(connectAndSee(l, "10.88.0.2", kPort, &err), "127.0.0.1");
    int one = 1;
    EXPECT_EQ(::send(kept, &one, sizeof one, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof one));
    ::close(kept);
    // UDP to the VIP reaches the backend too.
    int u = listenOn(SOCK_DGRAM, kPort);
    int c = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in vip = addrOf("10.88.0.2", kPort);
    EXPECT_EQ(::sendto(c, "x", 1, 0, reinterpret_cast<sockaddr*>(&vip), sizeof vip), 1);
    pollfd p{u, POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 1000), 1) << "UDP to the VIP never arrived";
    ::close(c);
    ::close(u);
    // The table removed: the VIP is no longer translated (nothing answers).
    if (auto s = k().setServiceVips(path, "t", {}); !s) return s;
    EXPECT_EQ(connectAndSee(l, "10.88.0.2", kPort, &err), "");
    EXPECT_EQ(err, ETIMEDOUT);
    ::close(l);
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
}

// A connection that was never answered keeps its conntrack entry, and the
// backend it was sent to, and a later connection from the same source port
// is that entry again: once that backend has left, weft's table refuses such
// packets at once instead of letting them go on to nowhere.
TEST_P(VipTrafficTest, AnUnansweredConnectionToABackendThatLeftIsRefusedAtOnce) {
  if (!realKernelAvailable()) GTEST_SKIP() << "needs root (real kernel)";
  Netns ns = makeNs("vips");
  const std::string path = k().netnsPath(ns);
  ASSERT_OK(makeContainer(ns));
  // 10.88.0.5: on the link, and nobody answers there (a task that is gone).
  ASSERT_OK(k().setServiceVips(path, "t", {{ip("10.88.0.2"), {ip("10.88.0.5")}}}));
  auto fd = openNetnsFile(path);
  ASSERT_TRUE(fd.ok());
  Status st = runInNetns(fd->get(), [&]() -> Status {
    constexpr uint16_t kPort = 8080, kFrom = 40999;
    int l = listenOn(SOCK_STREAM, kPort);
    if (l < 0) return Error{errno, "listen"};
    int err = 0;
    EXPECT_EQ(connectAndSee(l, "10.88.0.2", kPort, &err, nullptr, kFrom), "");
    EXPECT_EQ(err, ETIMEDOUT);
    // Another port is not concerned, before or after the change.
    if (auto s = k().setServiceVips(path, "t", {{ip("10.88.0.2"), {ip("127.0.0.1")}}}); !s) return s;
    EXPECT_EQ(connectAndSee(l, "10.88.0.2", kPort, &err), "127.0.0.1");
    // The same port, twice: refused at once, not sent to 10.88.0.5.
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(connectAndSee(l, "10.88.0.2", kPort, &err, nullptr, kFrom), "");
      EXPECT_EQ(err, ECONNREFUSED);
    }
    // A service whose backends have all left refuses such a port too.
    if (auto s = k().setServiceVips(path, "t", {{ip("10.88.0.2"), {}}}); !s) return s;
    EXPECT_EQ(connectAndSee(l, "10.88.0.2", kPort, &err, nullptr, kFrom), "");
    EXPECT_EQ(err, ECONNREFUSED);
    ::close(l);
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
}

INSTANTIATE_TEST_SUITE_P(Real, VipTrafficTest, ::testing::Values(Impl::kNetlink), implName);

}  // namespace
}  // namespace weft::kernel::testing
