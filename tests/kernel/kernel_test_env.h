#pragma once
// Shared fixture for the kernel shim tests. The same scenarios run against
// FakeKernel and NetlinkKernel ("impl" parameter). Real-kernel runs happen
// only as root, inside a throwaway network + mount namespace that main()
// enters before any thread exists, with a mkdtemp() state directory.

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "kernel/kernel.h"

namespace weft::kernel::testing {

enum class Impl { kFake, kNetlink };
std::string implName(const ::testing::TestParamInfo<Impl>& info);

// Set by main(): a fresh directory for namespace files, and whether we are
// root inside a throwaway world (real-kernel tests skip otherwise).
const std::string& stateDir();
bool realKernelAvailable();

class KernelTest : public ::testing::TestWithParam<Impl> {
 protected:
  void SetUp() override;
  void TearDown() override;

  Kernel& k() { return *kernel_; }
  bool real() const { return GetParam() == Impl::kNetlink; }
  // Creates a namespace that TearDown deletes (a unique name per test).
  Netns makeNs(const std::string& base);
  // Host links that TearDown deletes if the test left them.
  void ownHostLink(const std::string& name) { hostLinks_.push_back(name); }
  // Gives the host an underlay interface carrying `addr` with `mtu` and a
  // default route through it; returns the address to pass to underlayMtu.
  std::string makeUnderlay(uint32_t mtu);

  // No namespace file reaches `ns` any more, but it lives on until TearDown
  // (real kernel: its mount is removed and an open fd stands for whatever
  // else holds it; fake: FakeKernel::orphanNetns). Returns nothing; check
  // with ASSERT_NO_FATAL_FAILURE.
  void orphanNs(const Netns& ns);

  std::set<std::string> linkNames(const Netns& ns);
  LinkInfo link(const Netns& ns, const std::string& name);

  KernelPtr kernel_;
  std::vector<Netns> baselineNetns_;
  std::set<std::string> baselineHostLinks_;
  std::vector<Netns> createdNs_;
  std::vector<std::string> hostLinks_;
  std::vector<int> orphanHolders_;  // fds keeping real orphaned namespaces alive
};

}  // namespace weft::kernel::testing

#define ASSERT_OK(expr)                                          \
  do {                                                           \
    auto&& r_ = (expr);                                          \
    ASSERT_TRUE(r_.ok()) << #expr << ": " << r_.error().message; \
  } while (0)
#define EXPECT_OK(expr)                                          \
  do {                                                           \
    auto&& r_ = (expr);                                          \
    EXPECT_TRUE(r_.ok()) << #expr << ": " << r_.error().message; \
  } while (0)
#define EXPECT_ERRNO(expr, err)                                                            \
  do {                                                                                     \
    auto&& r_ = (expr);                                                                    \
    EXPECT_EQ(r_.code(), err) << #expr << " -> " << (r_.ok() ? "ok" : r_.error().message); \
  } while (0)
