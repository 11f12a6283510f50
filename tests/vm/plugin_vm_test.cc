// The whole weft-plugin on a kernel with ESP (issue 11), in the VM of
// tests/vm/esp_vm_test.cc (same binary, same boot): two plugins, each with
// the weft-gossip sidecar it starts itself, agree the kernel backend's key
// epochs over the real encrypted gossip; their containers ping each other
// with only ESP on the underlay; a kill -9 of one plugin (its sidecar dies
// with it) and its restart do not stop the traffic (the kernel's SAs are
// adopted); a rotation on request moves one host's epoch up without losing
// a reply. The tests run in order and build on each other.

#include "tests/vm/plugin_vm_fixture.h"

namespace weft::vmtest {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The longest run of consecutive unanswered echoes.
int longestRun(const std::vector<int>& lost) {
  int best = 0, run = 0, prev = -2;
  for (int s : lost) {
    run = s == prev + 1 ? run + 1 : 1;
    best = std::max(best, run);
    prev = s;
  }
  return best;
}

TEST_F(PluginVm, TwoPluginsAgreeKernelEpochsOverGossip) {
  ASSERT_OK(root_->probe());
  for (PluginHost* h : {&a_, &b_}) {
    ASSERT_OK(root_->createNetns(h->ns));
    h->nsPath = root_->netnsPath(h->ns);
  }
  ASSERT_OK(root_->createVeth(a_.ns, "ul0", b_.ns, "ul0", 1500));
  for (PluginHost* h : {&a_, &b_})
    for (auto st : {root_->addAddress(h->ns, "ul0", h->underlay + "/24"),
                    root_->setLinkUp(h->ns, "ul0", true), root_->setLinkUp(h->ns, "lo", true)})
      ASSERT_OK(st);
  ASSERT_OK(makeDirs(kPluginRun, 0700));
  ASSERT_OK(writeFileAtomic(kPluginRun + "/cluster.key", std::string(64, 'c') + "\n", 0600));  // hex

  const auto start = Clock::now();
  for (PluginHost* h : {&a_, &b_}) {
    ASSERT_OK(makeDirs(h->dir(), 0700));
    startPlugin(*h);
  }
  for (PluginHost* h : {&a_, &b_}) ASSERT_TRUE(waitReady(*h, std::chrono::seconds(60))) << logOf(*h);
  std::printf("plugin-vm-test: both weft-plugins serving after %.2f s\n", secondsSince(start));
  for (PluginHost* h : {&a_, &b_}) {
    ASSERT_TRUE(sidecarOf(h->proc->pid()) > 0) << "no weft-gossip sidecar of " << h->name << "\n"
                                               << logOf(*h);
    ASSERT_OK(createNetwork(*h));
    ASSERT_OK(runContainer(*h));
    const Json c = crypto(*h);
    EXPECT_EQ(field(c, "selection").value("kernelEsp", false), true) << c.dump();
  }
  std::string why;
  const auto joined = Clock::now();
  ASSERT_TRUE(waitAgreed(std::chrono::seconds(60), &why)) << why << "\n" << logOf(a_) << logOf(b_);
  const auto pa = kernelPair(crypto(a_), b_.underlay), pb = kernelPair(crypto(b_), a_.underlay);
  std::printf("plugin-vm-test: kernel pair agreed %.2f s after the joins: a sends at %u, b at %u\n",
              secondsSince(joined), pa.outEpoch.value_or(0), pb.outEpoch.value_or(0));
}

TEST_F(PluginVm, ContainersPingOverEspOnly) {
  ASSERT_TRUE(a_.joined && b_.joined) << "set-up failed";
  auto ul = root_->getLink(a_.ns, "ul0");
  ASSERT_OK(ul);
  Fd wire = capture(a_.nsPath, ul->ifindex);
  ASSERT_TRUE(wire);
  PingLoop p(a_.containerPath, b_.ip(), 50, 0x7a01, std::chrono::milliseconds(20));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.wait(), 50u);
  const auto frames = drain(wire);

  const auto outA = kernelPair(crypto(a_), b_.underlay).outSpi,
             outB = kernelPair(crypto(b_), a_.underlay).outSpi;
  ASSERT_TRUE(outA && outB);
  size_t esp = 0, espA = 0, espB = 0, clearOnEspPort = 0, markers = 0;
  for (const auto& f : frames) {
    if (ipProto(f) == IPPROTO_ESP) {
      ++esp;
      espA += espSpi(f) == *outA;
      espB += espSpi(f) == *outB;
    }
    clearOnEspPort += udpDstPort(f) == kEspPort;
    markers += contains(f, kMarker);
  }
  std::printf(
      "plugin-vm-test: 50 pings at 20 ms, %zu answered; underlay: %zu frames, %zu ESP (%zu a->b, %zu b->a), "
      "%zu cleartext to ESP_PORT, %zu with the payload in clear\n",
      p.wait(), frames.size(), esp, espA, espB, clearOnEspPort, markers);
  EXPECT_GE(espA, 50u);
  EXPECT_GE(espB, 50u);
  EXPECT_EQ(clearOnEspPort, 0u);
  EXPECT_EQ(markers, 0u);
}

TEST_F(PluginVm, KillNineAndRestartKeepTheTraffic) {
  ASSERT_TRUE(a_.joined && b_.joined && a_.proc) << "set-up failed";
  const auto before = kernelPair(crypto(a_), b_.underlay);
  const pid_t sidecar = sidecarOf(a_.proc->pid());
  ASSERT_GT(sidecar, 0);

  PingLoop p(a_.containerPath, b_.ip(), 400, 0x7a02, std::chrono::milliseconds(20));
  ASSERT_TRUE(p.ok());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const auto killed = Clock::now();
  a_.proc->kill(SIGKILL);
  bool sidecarGone = false;
  for (int i = 0; i < 200 && !sidecarGone; ++i) {
    sidecarGone = exited(sidecar);
    if (!sidecarGone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(sidecarGone) << "weft-gossip " << sidecar << " outlived its weft-plugin";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  startPlugin(a_);
  ASSERT_TRUE(waitReady(a_, std::chrono::seconds(60))) << logOf(a_);
  const double ready = secondsSince(killed);
  std::string why;
  ASSERT_TRUE(waitAgreed(std::chrono::seconds(60), &why)) << why << "\n" << logOf(a_);
  const double agreedAfter = secondsSince(killed);
  p.wait();
  const auto lost = p.lost();
  const auto after = kernelPair(crypto(a_), b_.underlay);
  std::printf(
      "plugin-vm-test: kill -9 under a 20 ms ping: serving again %.2f s after, kernel pair agreed %.2f s "
      "after; %zu of 400 replies lost, longest gap %d ms; outbound epoch %u -> %u; its weft-gossip exited "
      "with "
      "it: %s\n",
      ready, agreedAfter, lost.size(), longestRun(lost) * 20, before.outEpoch.value_or(0),
      after.outEpoch.value_or(0), sidecarGone ? "yes" : "no");
  EXPECT_LE(lost.size(), 3u);
  EXPECT_EQ(after.backend, "kernel");
  EXPECT_EQ(after.outEpoch, before.outEpoch);  // the kernel's SAs adopted, not re-created
  EXPECT_EQ(after.outSpi, before.outSpi);
}

TEST_F(PluginVm, RotationOnRequestLosesNoReply) {
  ASSERT_TRUE(a_.joined && b_.joined && a_.proc && b_.proc) << "set-up failed";
  // A rotation is at least minIntervalSeconds after the last one (or the start).
  const Json epochs = field(field(crypto(b_), "selection"), "kernelEpochs");
  const int64_t age = epochs.value("ageSeconds", 0), minimum = epochs.value("minIntervalSeconds", 10);
  if (age < minimum) std::this_thread::sleep_for(std::chrono::seconds(minimum - age + 1));
  const auto before = kernelPair(crypto(b_), a_.underlay);
  ASSERT_TRUE(before.outEpoch);

  auto ul = root_->getLink(a_.ns, "ul0");
  ASSERT_OK(ul);
  Fd wire = capture(a_.nsPath, ul->ifindex);
  PingLoop p(a_.containerPath, b_.ip(), 300, 0x7a03);
  ASSERT_TRUE(p.ok() && wire);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const Json r = call(b_, "/weft.CryptoRotate", Json::object());
  p.wait();
  const auto frames = drain(wire);
  const auto after = kernelPair(crypto(b_), a_.underlay);
  const auto seenByA = kernelPair(crypto(a_), b_.underlay);
  size_t oldSpi = 0, newSpi = 0;
  for (const auto& f : frames) {
    oldSpi += espSpi(f) == before.outSpi;
    newSpi += after.outSpi && espSpi(f) == *after.outSpi;
  }
  std::printf(
      "plugin-vm-test: rotation on b under a 10 ms ping: %s; b's epoch %u -> %u, %zu of 300 replies "
      "lost; b->a frames at the old SPI %zu, at the new %zu\n",
      r.dump().c_str(), *before.outEpoch, after.outEpoch.value_or(0), p.lost().size(), oldSpi, newSpi);
  EXPECT_EQ(field(r, "kernel").value("rotated", false), true) << r.dump();
  EXPECT_EQ(after.outEpoch, *before.outEpoch + 1);
  EXPECT_TRUE(seenByA.inEpochs.count(*before.outEpoch + 1)) << crypto(a_).dump();
  EXPECT_EQ(p.lost().size(), 0u);
  EXPECT_GT(oldSpi, 0u);
  EXPECT_GT(newSpi, 0u);
}

}  // namespace
}  // namespace weft::vmtest
