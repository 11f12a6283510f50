#include "tests/kernel/kernel_test_env.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>

#include "kernel/fake_kernel.h"
#include "kernel/netlink_kernel.h"
#include "tests/support/kernel_values.h"

namespace weft::kernel::testing {

namespace {

using namespace weft::testvalues;
std::string gStateDir;
bool gReal = false;
std::atomic<int> gNsCounter{0};
}  // namespace

const std::string& stateDir() { return gStateDir; }
bool realKernelAvailable() { return gReal; }

std::string implName(const ::testing::TestParamInfo<Impl>& info) {
  return info.param == Impl::kFake ? "Fake" : "Netlink";
}

void KernelTest::SetUp() {
  if (GetParam() == Impl::kFake) {
    kernel_ = std::make_unique<FakeKernel>(stateDir() + "/fake");
  } else {
    if (!realKernelAvailable()) GTEST_SKIP() << "real-kernel tests need root";
    kernel_ = std::make_unique<NetlinkKernel>(stateDir() + "/netns");
  }
  auto ns = k().listNetns();
  ASSERT_OK(ns);
  baselineNetns_ = *ns;
  baselineHostLinks_ = linkNames(kHostNetns);
}

void KernelTest::TearDown() {
  for (int fd : orphanHolders_) ::close(fd);  // real orphans die with their last reference
  orphanHolders_.clear();
  if (!kernel_) return;
  for (auto it = createdNs_.rbegin(); it != createdNs_.rend(); ++it) {
    auto s = k().deleteNetns(*it);
    EXPECT_TRUE(s.okOr(ENOENT)) << "deleteNetns " << *it << ": " << s.error().message;
  }
  for (auto& l : hostLinks_) (void)k().deleteLink(kHostNetns, l);
  // Nothing the test made may remain: namespaces, or links in the host.
  auto ns = k().listNetns();
  ASSERT_OK(ns);
  EXPECT_EQ(*ns, baselineNetns_);
  EXPECT_EQ(linkNames(kHostNetns), baselineHostLinks_);
}

Netns KernelTest::makeNs(const std::string& base) {
  Netns name = base + "-" + std::to_string(::getpid()) + "-" + std::to_string(gNsCounter++);
  auto s = k().createNetns(name);
  EXPECT_TRUE(s.ok()) << "createNetns " << name << ": " << s.error().message;
  createdNs_.push_back(name);
  return name;
}

void KernelTest::orphanNs(const Netns& ns) {
  const std::string path = k().netnsPath(ns);
  if (real()) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << path;
    orphanHolders_.push_back(fd);
    ASSERT_EQ(::umount2(path.c_str(), MNT_DETACH), 0) << path;
    ASSERT_EQ(::unlink(path.c_str()), 0) << path;
  } else {
    ASSERT_OK(static_cast<FakeKernel&>(k()).orphanNetns(ns));
  }
  auto list = k().listNetns();
  ASSERT_OK(list);
  ASSERT_EQ(std::count(list->begin(), list->end(), ns), 0) << ns << " is still listed";
}

std::string KernelTest::makeUnderlay(uint32_t mtu) {
  const std::string addr = "198.18.0.1";
  if (!real()) {
    static_cast<FakeKernel&>(k()).setUnderlayMtu(mtu);
    return addr;
  }
  // A veth pair in the host namespace stands in for the NIC.
  Netns peer = makeNs("underlay");
  ownHostLink("wul0");
  EXPECT_OK(k().createVeth(kHostNetns, "wul0", peer, "wul1", mtu));
  EXPECT_OK(k().addAddress(kHostNetns, "wul0", addr + "/24"));
  EXPECT_OK(k().setLinkUp(kHostNetns, "wul0", true));
  EXPECT_OK(k().addRoute(kHostNetns, route("default", "198.18.0.2", "wul0")));
  return addr;
}

std::set<std::string> KernelTest::linkNames(const Netns& ns) {
  std::set<std::string> out;
  auto links = k().listLinks(ns);
  EXPECT_TRUE(links.ok()) << "listLinks: " << (links.ok() ? "" : links.error().message);
  if (!links.ok()) return out;
  for (auto& l : *links) out.insert(l.name);
  return out;
}

LinkInfo KernelTest::link(const Netns& ns, const std::string& name) {
  auto l = k().getLink(ns, name);
  EXPECT_TRUE(l.ok()) << "getLink " << name << ": " << (l.ok() ? "" : l.error().message);
  return l.ok() ? *l : LinkInfo{};
}

}  // namespace weft::kernel::testing

int main(int argc, char** argv) {
  using namespace weft::kernel::testing;
  // Enter a throwaway world before any thread exists: whatever a crashing
  // test leaves behind (namespaces, links, mounts, xfrm state) dies with it.
  if (::geteuid() == 0 && ::unshare(CLONE_NEWNET | CLONE_NEWNS) == 0 &&
      ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0) {
    gReal = true;
  }
  char tmpl[] = "/tmp/weft-kernel-test.XXXXXX";
  if (!::mkdtemp(tmpl)) {
    perror("mkdtemp");
    return 2;
  }
  gStateDir = tmpl;
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  // Namespace files are bind mounts: detach whatever remains, then remove.
  std::error_code ec;
  for (const char* sub : {"/netns", "/fake"}) {
    for (auto& e : std::filesystem::directory_iterator(gStateDir + sub, ec))
      ::umount2(e.path().c_str(), MNT_DETACH);
  }
  std::filesystem::remove_all(gStateDir, ec);
  return rc;
}
