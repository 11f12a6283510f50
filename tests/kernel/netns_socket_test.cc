// Sockets made in another network namespace (kernel/netns_socket.h), as the
// name responder makes them in each network's sandbox: they live in that
// namespace, not the caller's; errors name what failed. Real kernel only,
// as root (skipped otherwise, like every real-kernel case).
#include "kernel/netns_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "kernel/netns_util.h"
#include "tests/kernel/kernel_test_env.h"

namespace weft::kernel::testing {
namespace {

using NetnsSocketTest = KernelTest;

constexpr uint16_t kPort = 5353;

// Connects to 169.254.53.53:kPort over TCP from the namespace at `nsPath`
// (a short-lived thread in it, like the responder's sockets); 0 or errno.
int connectFrom(const std::string& nsPath) {
  auto ns = openNetnsFile(nsPath);
  if (!ns) return ns.error().code;
  int result = -1;
  Status st = runInNetns(ns->get(), [&]() -> Status {
    Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(kPort);
    ::inet_pton(AF_INET, "169.254.53.53", &a.sin_addr);
    result = ::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 0 : errno;
    return Status::Ok();
  });
  return st ? result : st.error().code;
}

TEST_P(NetnsSocketTest, UdpAndTcpSocketsLiveInTheNamespaceTheyWereMadeIn) {
  Netns a = makeNs("sock-a"), b = makeNs("sock-b");
  for (const auto& ns : {a, b}) {
    ASSERT_OK(k().setLinkUp(ns, "lo", true));
    ASSERT_OK(k().addAddress(ns, "lo", "169.254.53.53/32"));
  }
  const IpAddr addr = *IpAddr::parse("169.254.53.53");
  auto udp = bindUdpInNetns(k().netnsPath(a), addr, kPort);
  ASSERT_TRUE(udp.ok()) << udp.error().message;
  auto tcp = listenTcpInNetns(k().netnsPath(a), addr, kPort, 4);
  ASSERT_TRUE(tcp.ok()) << tcp.error().message;
  // Reached from a, refused in b (nothing listens there), whatever thread made it.
  EXPECT_EQ(connectFrom(k().netnsPath(a)), 0);
  EXPECT_EQ(connectFrom(k().netnsPath(b)), ECONNREFUSED);
  // The same port again in b: a namespace of its own, so it binds.
  EXPECT_TRUE(listenTcpInNetns(k().netnsPath(b), addr, kPort, 4).ok());
  // And again in a: in use.
  EXPECT_EQ(listenTcpInNetns(k().netnsPath(a), addr, kPort, 4).code(), EADDRINUSE);
  EXPECT_EQ(bindUdpInNetns(k().netnsPath(a), addr, kPort).code(), EADDRINUSE);
}

TEST_P(NetnsSocketTest, AnAddressNotInTheNamespaceOrANamespaceThatIsNoneIsAnError) {
  Netns a = makeNs("sock-c");
  ASSERT_OK(k().setLinkUp(a, "lo", true));
  const IpAddr addr = *IpAddr::parse("169.254.53.53");
  auto tcp = listenTcpInNetns(k().netnsPath(a), addr, kPort, 4);
  ASSERT_FALSE(tcp.ok());
  EXPECT_EQ(tcp.error().code, EADDRNOTAVAIL);
  EXPECT_NE(tcp.error().message.find("169.254.53.53"), std::string::npos) << tcp.error().message;
  EXPECT_EQ(bindUdpInNetns(k().netnsPath(a), addr, kPort).code(), EADDRNOTAVAIL);
  EXPECT_EQ(listenTcpInNetns(stateDir() + "/no-such-netns", addr, kPort, 4).code(), ENOENT);
}

// Only the real kernel: FakeKernel's namespaces are names, not namespaces.
INSTANTIATE_TEST_SUITE_P(Kernels, NetnsSocketTest, ::testing::Values(Impl::kNetlink), implName);

}  // namespace
}  // namespace weft::kernel::testing
