// Behaviour only the real kernel shim has: probe, namespace files and mounts,
// sysctls seen from the namespace itself. Root only (skips otherwise).
#include "kernel/netlink_kernel.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "tests/kernel/kernel_test_env.h"
#include "tests/support/kernel_values.h"

namespace weft::kernel::testing {
namespace {

using namespace weft::testvalues;

constexpr long kNsfsMagic = 0x6e736673;

class NetlinkOnlyTest : public KernelTest {};

TEST_P(NetlinkOnlyTest, ProbeNamesWhatIsMissing) {
  Status s = k().probe();
  // Whether ESP with AES-GCM works, checked independently of probe().
  XfrmState st{"198.18.0.1", "198.18.0.2", 0x77, 1, std::string(72, 'a'), 128, true};
  Status direct = k().addXfrmState(st);
  if (direct.ok()) {
    EXPECT_OK(k().delXfrmState(st));
    EXPECT_TRUE(s.ok()) << s.error().message;
  } else {
    EXPECT_EQ(s.code(), EPROTONOSUPPORT) << s.error().message;
    EXPECT_NE(s.error().message.find("rfc4106(gcm(aes))"), std::string::npos) << s.error().message;
  }
  // The probe leaves no namespace file behind.
  for (auto& e : std::filesystem::directory_iterator(stateDir() + "/netns"))
    EXPECT_EQ(e.path().filename().string().rfind(".probe", 0), std::string::npos) << e.path();
}

TEST_P(NetlinkOnlyTest, NamespaceIsAnNsfsBindMountAndGoesAwayCleanly) {
  Netns a = makeNs("file");
  const std::string path = k().netnsPath(a);
  EXPECT_EQ(path, stateDir() + "/netns/" + a);
  struct statfs fs {};
  ASSERT_EQ(::statfs(path.c_str(), &fs), 0);
  EXPECT_EQ(fs.f_type, kNsfsMagic);
  ASSERT_OK(k().deleteNetns(a));
  EXPECT_NE(::access(path.c_str(), F_OK), 0);  // file removed too
}

TEST_P(NetlinkOnlyTest, StaleNamespaceFileIsReusedOrCleaned) {
  const std::string name = "stale-" + std::to_string(::getpid());
  const std::string path = k().netnsPath(name);
  { std::ofstream(path).put('\0'); }  // a plain file, as left by a reboot
  auto list = k().listNetns();
  ASSERT_OK(list);
  EXPECT_EQ(std::count(list->begin(), list->end(), name), 0);
  EXPECT_ERRNO(k().createBridge(name, "br0", 0), ENOENT);
  EXPECT_ERRNO(k().deleteNetns(name), ENOENT);
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
  { std::ofstream(path).put('\0'); }
  ASSERT_OK(k().createNetns(name));
  EXPECT_OK(k().createBridge(name, "br0", 0));
  ASSERT_OK(k().deleteNetns(name));
}

TEST_P(NetlinkOnlyTest, NamespaceReplacedBehindOurBackGetsAFreshSocket) {
  Netns a = makeNs("swap");
  ASSERT_OK(k().createBridge(a, "old0", 0));  // caches a socket for `a`
  // Another instance (think: a restarted plugin) deletes and re-creates it.
  NetlinkKernel other(stateDir() + "/netns");
  ASSERT_OK(other.deleteNetns(a));
  ASSERT_OK(other.createNetns(a));
  EXPECT_EQ(linkNames(a), (std::set<std::string>{"lo"}));
  ASSERT_OK(k().createBridge(a, "new0", 0));
  auto links = other.listLinks(a);
  ASSERT_OK(links);
  EXPECT_EQ(links->size(), 2u);
}

// What programming remote endpoints costs (issue 9): a neighbour and an FDB
// entry are one round trip each once the device is known; a flood entry for
// a VTEP new to the network adds a dump of the device's FDB (the EEXIST
// check) and the append.
// In a container /proc/sys is a read-only mount (the managed plugin's is):
// echo still gets its ICMP socket in a new namespace, whose
// ping_group_range lets no group open one, and the mount stays read-only
// for everyone else.
TEST_P(NetlinkOnlyTest, EchoWorksUnderAReadOnlyProcSys) {
  if (!realKernelAvailable()) GTEST_SKIP() << "needs root";
  Netns a = makeNs("ro");
  ASSERT_OK(k().setLinkUp(a, "lo", true));
  ASSERT_OK(k().createBridge(a, "br0", 0));
  ASSERT_OK(k().setLinkUp(a, "br0", true));
  ASSERT_OK(k().addAddress(a, "br0", "10.9.0.1/24"));
  ASSERT_EQ(::mount("/proc/sys", "/proc/sys", nullptr, MS_BIND, nullptr), 0) << std::strerror(errno);
  ASSERT_EQ(::mount(nullptr, "/proc/sys", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr), 0)
      << std::strerror(errno);
  auto r = k().echo(a, {EchoProbe{"10.9.0.1", 84}}, std::chrono::milliseconds(500));
  bool stillReadOnly = ::access("/proc/sys/net/ipv4/ping_group_range", W_OK) != 0 && errno == EROFS;
  ::umount2("/proc/sys", MNT_DETACH);
  ASSERT_OK(r);
  EXPECT_TRUE((*r)[0].ok);
  EXPECT_TRUE(stillReadOnly);
}

TEST_P(NetlinkOnlyTest, ARemoteEndpointCostsTwoRoundTrips) {
  Netns a = makeNs("cost");
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 600}, a));
  auto& nk = static_cast<NetlinkKernel&>(k());
  auto cost = [&](auto&& op) {
    uint64_t before = nk.roundTrips();
    EXPECT_OK(op());
    return nk.roundTrips() - before;
  };
  auto endpoint = [&](int i, const std::string& vtep) {
    std::string mac = "02:42:0a:07:00:0" + std::to_string(i);
    return cost([&] { return k().replaceNeigh(a, neighEntry("vx0", "10.7.0." + std::to_string(i), mac)); }) +
           cost([&] { return k().replaceFdb(a, fdbEntry("vx0", mac, vtep)); });
  };
  EXPECT_EQ(endpoint(1, "198.18.0.2"), 3u);  // the first call looks vx0 up
  EXPECT_EQ(endpoint(2, "198.18.0.2"), 2u);
  EXPECT_EQ(endpoint(2, "198.18.0.3"), 2u);  // moved: replaced in place
  EXPECT_EQ(cost([&] {
              return k().addFdb(a, fdbEntry("vx0", "00:00:00:00:00:00", "198.18.0.3"), FdbAdd::kAppend);
            }),
            2u);
  // Removing one: the neighbour, then the FDB entry after one lookup of its
  // MAC (the contract's ENOENT for a destination that is not there).
  EXPECT_EQ(cost([&] { return k().delNeigh(a, neighEntry("vx0", "10.7.0.1", "02:42:0a:07:00:01")); }), 1u);
  EXPECT_EQ(cost([&] { return k().delFdb(a, fdbEntry("vx0", "02:42:0a:07:00:01", "198.18.0.2")); }), 2u);
  // A link re-created behind the shim's back: the stale index costs one
  // failed request and one lookup, then the entry lands on the new link.
  NetlinkKernel other(stateDir() + "/netns");
  ASSERT_OK(other.deleteLink(a, "vx0"));
  ASSERT_OK(other.createVxlan(VxlanSpec{.name = "vx0", .vni = 600}, a));
  EXPECT_EQ(cost([&] { return k().replaceFdb(a, fdbEntry("vx0", "02:42:0a:07:00:09", "198.18.0.2")); }), 3u);
  auto fdb = other.listFdb(a, "vx0");
  ASSERT_OK(fdb);
  EXPECT_EQ(*fdb, (std::vector<FdbEntry>{fdbEntry("vx0", "02:42:0a:07:00:09", "198.18.0.2")}));
  // Deleted behind its back and not re-created: ENOENT, as ever.
  ASSERT_OK(other.deleteLink(a, "vx0"));
  EXPECT_ERRNO(k().replaceNeigh(a, neighEntry("vx0", "10.7.0.9", "02:42:0a:07:00:09")), ENOENT);
}

TEST_P(NetlinkOnlyTest, SysctlIsWrittenInsideTheNamespace) {
  Netns a = makeNs("sysc");
  ASSERT_OK(k().setSysctl(kHostNetns, "net/ipv4/ip_forward", "0"));
  ASSERT_OK(k().setSysctl(a, "net/ipv4/ip_forward", "1"));
  // This (main) thread is in the host namespace: it must still read 0.
  std::ifstream f("/proc/sys/net/ipv4/ip_forward");
  std::string v;
  f >> v;
  EXPECT_EQ(v, "0");
}

// NETNS_KEEP_DIR: a second mount of every namespace, so that unmounting the
// state directory (what `docker plugin disable` does to the managed plugin's
// propagated mount) does not end the namespaces; the next start binds them
// back and finds them exactly as they were.
class KeepDirTest : public NetlinkOnlyTest {
 protected:
  void SetUp() override {
    NetlinkOnlyTest::SetUp();
    if (::testing::Test::IsSkipped()) return;
    const std::string base = stateDir() + "/keep-" + std::to_string(::getpid()) + "-" +
                             ::testing::UnitTest::GetInstance()->current_test_info()->name();
    nsDir_ = base + "/netns";
    keepDir_ = base + "/kept";
  }
  void TearDown() override {
    // Whatever a failed test left: both directories' mounts.
    for (const auto& dir : {nsDir_, keepDir_}) {
      std::error_code ec;
      if (dir.empty() || !std::filesystem::exists(dir, ec)) continue;
      for (auto& e : std::filesystem::directory_iterator(dir, ec)) removeNetnsFile(e.path().string());
    }
    NetlinkOnlyTest::TearDown();
  }
  static bool isNs(const std::string& path) { return openNetnsFile(path).ok(); }
  std::string nsDir_, keepDir_;
};

TEST_P(KeepDirTest, NamespaceOutlivesUnmountOfTheStateDirectoryAndIsAdopted) {
  {
    NetlinkKernel first(nsDir_, keepDir_);
    auto r = first.adoptKeptNamespaces();
    ASSERT_OK(r);
    EXPECT_EQ(r->restored, 0);
    EXPECT_EQ(r->kept, 0);
    ASSERT_OK(first.createNetns("weft-keep"));
    ASSERT_OK(first.createBridge("weft-keep", "br0", 1400));
    EXPECT_TRUE(isNs(keepDir_ + "/weft-keep"));
  }
  // Docker's RecursiveUnmount of the plugin directory.
  ASSERT_EQ(::umount2((nsDir_ + "/weft-keep").c_str(), MNT_DETACH), 0);
  EXPECT_FALSE(isNs(nsDir_ + "/weft-keep"));

  NetlinkKernel next(nsDir_, keepDir_);
  auto r = next.adoptKeptNamespaces();
  ASSERT_OK(r);
  EXPECT_EQ(r->restored, 1);
  EXPECT_EQ(r->kept, 0);
  auto ns = next.listNetns();
  ASSERT_OK(ns);
  EXPECT_EQ(*ns, (std::vector<Netns>{"weft-keep"}));
  auto br = next.getLink("weft-keep", "br0");  // the same namespace, not a new one
  ASSERT_OK(br);
  EXPECT_EQ(br->mtu, 1400u);
  // A second start changes nothing.
  auto again = next.adoptKeptNamespaces();
  ASSERT_OK(again);
  EXPECT_EQ(again->restored + again->kept, 0);

  ASSERT_OK(next.deleteNetns("weft-keep"));
  EXPECT_NE(::access((nsDir_ + "/weft-keep").c_str(), F_OK), 0);
  EXPECT_NE(::access((keepDir_ + "/weft-keep").c_str(), F_OK), 0);
}

TEST_P(KeepDirTest, NamespacesWithoutATwinGetOneAndStaleFilesGo) {
  {
    NetlinkKernel legacy(nsDir_);  // made before the keep directory was set
    ASSERT_OK(legacy.createNetns("weft-old"));
  }
  NetlinkKernel k2(nsDir_, keepDir_);
  { std::ofstream(keepDir_ + "/weft-gone").put('\0'); }  // a plain file, as after a reboot
  auto r = k2.adoptKeptNamespaces();
  ASSERT_OK(r);
  EXPECT_EQ(r->restored, 0);
  EXPECT_EQ(r->kept, 1);
  EXPECT_TRUE(isNs(keepDir_ + "/weft-old"));
  EXPECT_NE(::access((keepDir_ + "/weft-gone").c_str(), F_OK), 0);
  EXPECT_NE(::access((nsDir_ + "/weft-gone").c_str(), F_OK), 0);
  // A missing namespace is still ENOENT, and clears its twin too.
  ASSERT_EQ(::umount2((nsDir_ + "/weft-old").c_str(), MNT_DETACH), 0);
  EXPECT_ERRNO(k2.deleteNetns("weft-old"), ENOENT);
  EXPECT_NE(::access((keepDir_ + "/weft-old").c_str(), F_OK), 0);
}

TEST_P(KeepDirTest, ProbeLeavesNothingInTheKeepDirectory) {
  NetlinkKernel k2(nsDir_, keepDir_);
  Status s = k2.probe();
  EXPECT_TRUE(s.ok() || s.code() == EPROTONOSUPPORT) << s.error().message;
  EXPECT_TRUE(std::filesystem::is_empty(keepDir_));
  EXPECT_TRUE(std::filesystem::is_empty(nsDir_));
}

INSTANTIATE_TEST_SUITE_P(Kernels, KeepDirTest, ::testing::Values(Impl::kNetlink), implName);

INSTANTIATE_TEST_SUITE_P(Kernels, NetlinkOnlyTest, ::testing::Values(Impl::kNetlink), implName);

}  // namespace
}  // namespace weft::kernel::testing
