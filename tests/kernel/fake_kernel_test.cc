// Behaviour only the in-memory kernel has: fault injection, determinism,
// the configured underlay MTU, thread safety.
#include "kernel/fake_kernel.h"

#include <thread>

#include "tests/kernel/kernel_test_env.h"

namespace weft::kernel::testing {
namespace {

TEST(FakeKernelTest, FailNextFailsOnlyTheNamedOperationOnce) {
  FakeKernel k("/nonexistent");
  ASSERT_OK(k.createNetns("a"));
  k.failNext("createVeth", EPERM);
  k.failNext("createVeth", ENOSPC);
  EXPECT_OK(k.createBridge("a", "br0", 0));
  EXPECT_ERRNO(k.createVeth("a", "v0", "", "v1", 0), EPERM);
  EXPECT_ERRNO(k.createVeth("a", "v0", "", "v1", 0), ENOSPC);
  auto links = k.listLinks("a");
  ASSERT_OK(links);
  EXPECT_EQ(links->size(), 2u);  // lo, br0: the failed calls changed nothing
  EXPECT_OK(k.createVeth("a", "v0", "", "v1", 0));
}

TEST(FakeKernelTest, FailNextWorksForResultReturningMethods) {
  FakeKernel k("/x");
  k.failNext("listNetns", EIO);
  EXPECT_ERRNO(k.listNetns(), EIO);
  EXPECT_OK(k.listNetns());
  k.failNext("underlayMtu", ENODEV);
  EXPECT_ERRNO(k.underlayMtu(""), ENODEV);
}

TEST(FakeKernelTest, MacsAreDeterministicUniqueAndLocallyAdministered) {
  FakeKernel k1("/x"), k2("/x");
  std::set<std::string> macs;
  for (int i = 0; i < 50; ++i) {
    std::string name = "br" + std::to_string(i);
    ASSERT_OK(k1.createBridge("", name, 0));
    ASSERT_OK(k2.createBridge("", name, 0));
    auto a = k1.getLink("", name), b = k2.getLink("", name);
    ASSERT_OK(a);
    ASSERT_OK(b);
    EXPECT_EQ(a->mac, b->mac);
    auto m = MacAddr::parse(a->mac);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->bytes[0] & 0x03, 0x02) << a->mac;  // unicast, locally administered
    macs.insert(a->mac);
  }
  EXPECT_EQ(macs.size(), 50u);
}

TEST(FakeKernelTest, UnderlayMtuIsConfigurable) {
  FakeKernel k("/x");
  EXPECT_EQ(*k.underlayMtu(""), 1500u);
  k.setUnderlayMtu(9001);
  EXPECT_EQ(*k.underlayMtu("10.0.0.1"), 9001u);
}

TEST(FakeKernelTest, NetnsPathIsUnderTheStateDir) {
  FakeKernel k("/var/lib/weft/netns");
  EXPECT_EQ(k.netnsPath("n1"), "/var/lib/weft/netns/n1");
}

TEST(FakeKernelTest, ConcurrentUseIsSafe) {
  FakeKernel k("/x");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&k, t] {
      for (int i = 0; i < 200; ++i) {
        std::string ns = "t" + std::to_string(t) + "-" + std::to_string(i);
        (void)k.createNetns(ns);
        (void)k.createVeth(ns, "v", "", "h" + std::to_string(t) + "-" + std::to_string(i), 0);
        (void)k.listLinks("");
        (void)k.deleteNetns(ns);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(k.listNetns()->size(), 0u);
  EXPECT_EQ(k.listLinks("")->size(), 1u);  // lo only: peers went with their namespaces
}

TEST(FakeKernelTest, IpForwardIsTheAllForwardingSwitch) {
  FakeKernel k("/x");
  ASSERT_OK(k.createBridge("", "br0", 0));
  ASSERT_OK(k.setSysctl("", "net/ipv4/conf/all/forwarding", "1"));
  EXPECT_EQ(*k.getSysctl("", "net/ipv4/ip_forward"), "1");
  EXPECT_EQ(*k.getSysctl("", "net/ipv4/conf/br0/forwarding"), "1");
}

// Tests give an SA the traffic it would have carried; the listing reports
// it, a re-added SA starts at 0 again.
TEST(FakeKernelTest, XfrmCountersAreSetPerSaAndStartAtZero) {
  FakeKernel k("/x");
  XfrmState s;
  s.src = "198.18.0.1";
  s.dst = "198.18.0.2";
  s.spi = 0x77;
  s.aeadKeyHex = std::string(72, 'e');
  ASSERT_OK(k.addXfrmState(s));
  const XfrmCounters c{.packets = 3, .bytes = 300, .duplicates = 1, .tooOld = 0, .authFailed = 2};
  ASSERT_OK(k.setXfrmCounters("198.18.0.2", 0x77, c));
  EXPECT_ERRNO(k.setXfrmCounters("198.18.0.2", 0x78, c), ENOENT);
  EXPECT_ERRNO(k.setXfrmCounters("198.18.0.1", 0x77, c), ENOENT);  // SAs are by destination and SPI
  auto list = k.listXfrmStates();
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].counters, std::optional<XfrmCounters>(c));
  ASSERT_OK(k.delXfrmState(s));
  ASSERT_OK(k.addXfrmState(s));
  list = k.listXfrmStates();
  ASSERT_OK(list);
  EXPECT_EQ((*list)[0].counters, std::optional<XfrmCounters>(XfrmCounters{}));
}

}  // namespace
}  // namespace weft::kernel::testing
