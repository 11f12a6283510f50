// The kernel backend's plane on its key epochs (driver/esp_epoch_source.h),
// against in-memory kernels that log their changes: directional SAs (A's
// outbound is B's inbound at A's epoch), rotation make before break across
// two hosts, willCreateOut before every outbound SA (and nothing when it
// fails), never one (peer, outbound epoch) twice, and a restarted plane
// adopting what the kernel kept without touching it while removing what
// nobody wants any more.

#include <gtest/gtest.h>

#include <thread>

#include "datapath/keys.h"
#include "driver/kernel_plane.h"
#include "tests/unit/esp_test_support.h"
#include "tests/unit/xfrm_lookup.h"

namespace weft::driver {
namespace {

using kernel::XfrmDir;
using kernel::XfrmPolicy;
using kernel::XfrmState;
using testing::entriesFor;
using testing::FakeEspEpochs;
using testing::findSa;
using testing::RecordingKernel;

constexpr uint16_t kEspPort = 4791;
const std::vector<uint8_t> kMaterial(32, 7);
const std::string kA = "198.18.0.1", kB = "198.18.0.2", kC = "198.18.0.3";
const std::string kSandbox = "sb1", kNet = "net-1";

uint32_t spiOf(const std::string& from, const std::string& to, uint32_t epoch) {
  return datapath::deriveEspKey(kMaterial, {"cluster-1", from, to}, epoch)->spi;
}

// One host: its kernel (with a sandbox holding br0), its epochs, its plane.
struct Host {
  Host(const std::string& self, std::atomic<long>& seq,
       std::chrono::milliseconds grace = std::chrono::seconds(2))
      : addr(self), k("/nonexistent/" + self, seq), bm(k), grace(grace) {
    EXPECT_TRUE(k.createNetns(kSandbox).ok());
    EXPECT_TRUE(k.createBridge(kSandbox, "br0", 1450).ok());
    start();
  }
  // A (new) plane, as weft-plugin makes one when it starts.
  void start() {
    plane.reset();  // as kill -9 would: nothing removed from the kernel
    auto esp = EspPairs::create(k, EspConfig{"cluster-1", addr, addr, kEspPort}, kMaterial);
    ASSERT_TRUE(esp.ok()) << esp.error().message;
    auto p = KernelPlane::create(k, bm, KernelPlaneConfig{addr, kEspPort, grace}, std::move(*esp), epochs);
    ASSERT_TRUE(p.ok()) << p.error().message;
    plane = std::move(*p);
    ASSERT_TRUE(plane->attach(EncryptedNetwork{kNet, 4242, kSandbox, 1400}).ok());
  }
  std::vector<XfrmState> sas() { return *k.listXfrmStates(); }
  std::optional<XfrmPolicy> outPolicy(const std::string& to) {
    const auto all = *k.listXfrmPolicies();
    for (const auto& p : all)
      if (!p.block && p.dir == XfrmDir::kOut && p.dst == to) return p;
    return std::nullopt;
  }
  std::string addr;
  RecordingKernel k;
  kernel::FakeBridgeMulticast bm;
  std::chrono::milliseconds grace;
  FakeEspEpochs epochs;
  std::unique_ptr<KernelPlane> plane;
};

class KernelPlaneEpochs : public ::testing::Test {
 protected:
  std::atomic<long> seq_{0};
};

TEST_F(KernelPlaneEpochs, EachDirectionIsAtItsSendersEpochOnBothHosts) {
  Host a(kA, seq_), b(kB, seq_);
  a.epochs.out[kB] = 5;
  a.epochs.in[kB] = {9, 10};  // A sends at 5, B at 9
  b.epochs.out[kA] = 9;
  b.epochs.in[kA] = {5, 6};
  a.plane->setPeers(kNet, entriesFor({kB}));
  b.plane->setPeers(kNet, entriesFor({kA}));
  // A -> B at A's epoch 5: A's outbound SA is B's inbound one, same SPI and key.
  const auto onA = a.sas(), onB = b.sas();
  const XfrmState* outA = findSa(onA, kA, spiOf(kA, kB, 5));
  const XfrmState* inB = findSa(onB, kA, spiOf(kA, kB, 5));
  ASSERT_TRUE(outA && inB);
  EXPECT_EQ(outA->aeadKeyHex, inB->aeadKeyHex);
  EXPECT_EQ(outA->dst, kB);
  // B -> A at B's epoch 9, the same.
  const XfrmState* outB = findSa(onB, kB, spiOf(kB, kA, 9));
  const XfrmState* inA = findSa(onA, kB, spiOf(kB, kA, 9));
  ASSERT_TRUE(outB && inA);
  EXPECT_EQ(outB->aeadKeyHex, inA->aeadKeyHex);
  EXPECT_NE(outA->aeadKeyHex, outB->aeadKeyHex);
  // A's out policy selects its SA; A accepts 9 and 10 (B's next, ahead).
  EXPECT_EQ(a.outPolicy(kB)->spi, spiOf(kA, kB, 5));
  EXPECT_EQ(onA.size(), 3u);
  EXPECT_NE(findSa(onA, kB, spiOf(kB, kA, 10)), nullptr);
  EXPECT_EQ(a.epochs.willCalls, (std::vector<std::pair<std::string, uint32_t>>{{kB, 5}}));
  EXPECT_EQ(a.plane->peerStates(),
            (std::vector<EspPeerState>{{kB, 5, std::nullopt, {9, 10}, spiOf(kA, kB, 5), EspTraffic{}}}));
}

// A rotates its direction: B accepts A's next epoch ahead, so B's inbound
// SA for it exists before A's policy moves; then B drops the old one.
TEST_F(KernelPlaneEpochs, RotationIsMakeBeforeBreakAcrossTheTwoHosts) {
  Host a(kA, seq_, std::chrono::milliseconds(50)), b(kB, seq_);
  a.epochs.agree(kB, 1);
  a.epochs.in[kB] = {1, 2};
  b.epochs.agree(kA, 1);
  b.epochs.in[kA] = {1, 2};
  a.plane->setPeers(kNet, entriesFor({kB}));
  b.plane->setPeers(kNet, entriesFor({kA}));
  a.k.clear();
  b.k.clear();

  a.epochs.out[kB] = 2;  // A's rotation is due
  ASSERT_TRUE(a.plane->refresh().ok());
  const long newSa = a.k.at("addXfrmState", spiOf(kA, kB, 2));
  const long moved = a.k.at("updateXfrmPolicy", spiOf(kA, kB, 2));
  ASSERT_GE(newSa, 0);
  ASSERT_GE(moved, 0);
  EXPECT_LT(newSa, moved) << "the SA before the policy that selects it";
  EXPECT_EQ(a.k.changes(), 2u) << "nothing removed yet: the previous SA has its grace";
  EXPECT_NE(findSa(b.sas(), kA, spiOf(kA, kB, 2)), nullptr) << "B accepted epoch 2 ahead";
  EXPECT_TRUE(b.k.calls.empty());
  EXPECT_EQ(a.plane->peerStates()[0].previousOut, 1u);
  ASSERT_TRUE(a.plane->refresh().ok());  // within the grace: still there
  EXPECT_NE(findSa(a.sas(), kA, spiOf(kA, kB, 1)), nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  ASSERT_TRUE(a.plane->refresh().ok());
  EXPECT_EQ(findSa(a.sas(), kA, spiOf(kA, kB, 1)), nullptr) << "the previous SA goes after its grace";
  EXPECT_FALSE(a.plane->peerStates()[0].previousOut);

  // B learns A's rotation: accepts 3 ahead, drops 1 (new before old goes).
  b.epochs.in[kA] = {2, 3};
  ASSERT_TRUE(b.plane->refresh().ok());
  const long add3 = b.k.at("addXfrmState", spiOf(kA, kB, 3));
  const long del1 = b.k.at("delXfrmState", spiOf(kA, kB, 1));
  ASSERT_GE(add3, 0);
  ASSERT_GE(del1, 0);
  EXPECT_LT(add3, del1);
  EXPECT_EQ(b.plane->peerStates()[0].inEpochs, (std::set<uint32_t>{2, 3}));
  EXPECT_EQ(a.epochs.willCalls, (std::vector<std::pair<std::string, uint32_t>>{{kB, 1}, {kB, 2}}));
  // Entries untouched throughout.
  for (const auto& c : a.k.calls) EXPECT_EQ(c.op.find("Fdb"), std::string::npos) << c.op;
}

TEST_F(KernelPlaneEpochs, AFailedWillCreateOutCreatesNothingAndRefreshProgramsItLater) {
  Host a(kA, seq_);
  a.epochs.agree(kB, 4);
  a.epochs.failWill = 1;
  a.k.clear();
  a.plane->setPeers(kNet, entriesFor({kB}));
  EXPECT_TRUE(a.k.calls.empty()) << a.k.calls[0].op;
  EXPECT_TRUE(a.plane->espPeers().empty());
  EXPECT_EQ(a.plane->programmed(kNet)->flood.size(), 0u);
  // Without another setPeers: refresh programs the pending entries. Epoch 4
  // cannot be recorded again? It never was (the write failed): it is used
  // now.
  ASSERT_TRUE(a.plane->refresh().ok());
  EXPECT_EQ(a.plane->espPeers(), std::vector<std::string>{kB});
  EXPECT_EQ(*a.plane->programmed(kNet), entriesFor({kB}));
  EXPECT_EQ(a.epochs.willCalls.size(), 2u);
  // A failed rotation changes nothing and is an error of refresh.
  a.epochs.out[kB] = 5;
  a.epochs.failWill = 1;
  a.k.clear();
  EXPECT_EQ(a.plane->refresh().code(), EIO);
  EXPECT_TRUE(a.k.calls.empty());
  EXPECT_EQ(a.outPolicy(kB)->spi, spiOf(kA, kB, 4));
}

TEST_F(KernelPlaneEpochs, NoOutboundEpochIsUsedTwiceWithAPeerInARun) {
  Host a(kA, seq_, std::chrono::milliseconds(0));
  a.epochs.agree(kB, 1);
  a.plane->setPeers(kNet, entriesFor({kB}));
  a.epochs.out[kB] = 2;
  ASSERT_TRUE(a.plane->refresh().ok());
  // Back to 1 (a source gone wrong): refused, nothing created.
  a.epochs.out[kB] = 1;
  a.k.clear();
  EXPECT_EQ(a.plane->refresh().code(), EEXIST);
  EXPECT_TRUE(a.k.calls.empty());
  // The peer leaves and comes back at 2: waits for a new epoch.
  a.epochs.out[kB] = 2;
  a.plane->setPeers(kNet, {});
  EXPECT_TRUE(a.plane->espPeers().empty());
  a.k.clear();
  a.plane->setPeers(kNet, entriesFor({kB}));
  EXPECT_TRUE(a.k.calls.empty());
  a.epochs.out[kB] = 3;
  ASSERT_TRUE(a.plane->refresh().ok());
  EXPECT_EQ(a.plane->espPeers(), std::vector<std::string>{kB});
  // Every outbound SA created once: one add per SPI over the whole run.
  std::set<std::pair<std::string, uint32_t>> seen(a.epochs.willCalls.begin(), a.epochs.willCalls.end());
  EXPECT_EQ(seen.size(), a.epochs.willCalls.size());
  EXPECT_EQ(seen, (std::set<std::pair<std::string, uint32_t>>{{kB, 1}, {kB, 2}, {kB, 3}}));
}

// weft-plugin restarts (kill -9: no cleanup): the new plane finds the SAs,
// policies, VTEP and entries of the last run and takes them over without a
// single change for what is still wanted; what is not goes once the control
// plane has resynced.
TEST_F(KernelPlaneEpochs, ARestartAdoptsWhatIsWantedUntouchedAndRemovesTheRest) {
  Host a(kA, seq_);
  a.epochs.agree(kB, 3);
  a.epochs.in[kB] = {3, 4};
  a.epochs.agree(kC, 7);
  a.plane->setPeers(kNet, entriesFor({kB, kC}));
  ASSERT_EQ(a.plane->espPeers(), (std::vector<std::string>{kB, kC}));
  // Someone else's SA and policy beside weft's (another IPsec user).
  const XfrmState foreign{kA, "198.18.7.7", 0x1234, 7, std::string(72, 'a'), 128, true, 0};
  ASSERT_TRUE(a.k.addXfrmState(foreign).ok());
  const auto statesBefore = a.sas();
  const auto policiesBefore = *a.k.listXfrmPolicies();
  const auto fdbBefore = *a.k.listFdb(kSandbox, kKernelVtepName);
  const size_t willsBefore = a.epochs.willCalls.size();

  a.k.clear();
  a.start();                                  // the new process: same kernel, same (persisted) epochs
  a.plane->setPeers(kNet, entriesFor({kB}));  // kC's records are not back (yet)
  for (const auto& c : a.k.calls) ADD_FAILURE() << "changed on adoption: " << c.op << " " << c.src;
  EXPECT_EQ(a.epochs.willCalls.size(), willsBefore) << "adopted SAs are not created";
  EXPECT_EQ(a.sas(), statesBefore);
  EXPECT_EQ(*a.k.listXfrmPolicies(), policiesBefore);
  EXPECT_EQ(*a.k.listFdb(kSandbox, kKernelVtepName), fdbBefore) << "kC's entries kept until the resync";
  EXPECT_EQ(a.plane->espPeers(), std::vector<std::string>{kB});
  EXPECT_EQ(a.plane->peerStates()[0].inEpochs, (std::set<uint32_t>{3, 4}));

  // The resync: kC went away while weft-plugin was down.
  a.plane->pruneRestored();
  EXPECT_EQ(*a.plane->programmed(kNet), entriesFor({kB}));
  for (const auto& s : a.sas()) EXPECT_NE(s.dst == kC || s.src == kC, true) << s.src << "->" << s.dst;
  EXPECT_EQ(a.sas().size(), 4u) << "kB's three and the foreign one";
  EXPECT_NE(findSa(a.sas(), kA, 0x1234), nullptr) << "not weft's: untouched";
  const auto policiesAfter = *a.k.listXfrmPolicies();
  for (const auto& p : policiesAfter) EXPECT_NE(p.dst, kC);
  for (const auto& c : a.k.calls)
    EXPECT_TRUE(c.op.rfind("del", 0) == 0) << "only removals on the resync: " << c.op;
}

// While weft-plugin was down its epochs moved on (a rotation was due, the
// peer's next is accepted): the adopted pair is brought to them -- the new
// outbound SA created (recorded first), the policy moved to it, the old
// outbound SA and the inbound epochs no longer wanted removed.
TEST_F(KernelPlaneEpochs, ARestartBringsAdoptedSasToEpochsThatMovedOn) {
  Host a(kA, seq_);
  a.epochs.agree(kB, 3);
  a.epochs.in[kB] = {3, 4};
  a.plane->setPeers(kNet, entriesFor({kB}));
  a.epochs.out[kB] = 4;
  a.epochs.in[kB] = {4, 5};
  a.k.clear();
  a.start();
  a.plane->setPeers(kNet, entriesFor({kB}));
  EXPECT_EQ(a.epochs.willCalls.back(), (std::pair<std::string, uint32_t>{kB, 4}));
  const auto sas = a.sas();
  EXPECT_EQ(sas.size(), 3u);
  EXPECT_NE(findSa(sas, kA, spiOf(kA, kB, 4)), nullptr);
  EXPECT_EQ(findSa(sas, kA, spiOf(kA, kB, 3)), nullptr);
  EXPECT_EQ(findSa(sas, kB, spiOf(kB, kA, 3)), nullptr);
  EXPECT_NE(findSa(sas, kB, spiOf(kB, kA, 4)), nullptr) << "adopted";
  EXPECT_NE(findSa(sas, kB, spiOf(kB, kA, 5)), nullptr);
  EXPECT_EQ(a.outPolicy(kB)->spi, spiOf(kA, kB, 4));
  EXPECT_LT(a.k.at("addXfrmState", spiOf(kA, kB, 4)), a.k.at("updateXfrmPolicy", spiOf(kA, kB, 4)));
  EXPECT_LT(a.k.at("updateXfrmPolicy", spiOf(kA, kB, 4)), a.k.at("delXfrmState", spiOf(kA, kB, 3)));
  EXPECT_EQ(a.k.at("addXfrmState", spiOf(kB, kA, 4)), -1) << "adopted, not re-created";
  for (const auto& c : a.k.calls) EXPECT_EQ(c.op.find("Fdb"), std::string::npos) << c.op;
}

// Adopted leftovers of a peer whose epochs are not known yet (the source
// has not spoken) keep carrying its traffic; they go only on the resync.
TEST_F(KernelPlaneEpochs, LeftoversOfAPeerWithUnknownEpochsStayUntilTheResync) {
  Host a(kA, seq_);
  a.epochs.agree(kB, 3);
  a.plane->setPeers(kNet, entriesFor({kB}));
  a.epochs.in.clear();
  a.epochs.out.clear();
  a.k.clear();
  a.start();
  a.plane->setPeers(kNet, entriesFor({kB}));
  EXPECT_TRUE(a.k.calls.empty());
  EXPECT_EQ(*a.plane->programmed(kNet), entriesFor({kB}));
  EXPECT_EQ(a.sas().size(), 2u);
  a.plane->pruneRestored();
  EXPECT_TRUE(a.sas().empty());
  EXPECT_EQ(*a.plane->programmed(kNet), PeerEntries{});
}

// setPeers comes from several threads, refresh() from the epoch book's:
// all under the plane's lock (the source is asked under it too), so the
// end state is the last word of each network, whatever the interleaving.
TEST(KernelPlaneThreads, SetPeersAndRefreshFromSeveralThreadsEndConsistent) {
  kernel::FakeKernel k("/nonexistent/threads");
  kernel::FakeBridgeMulticast bm(k);
  FakeEspEpochs epochs;
  for (const auto& p : {kB, kC}) epochs.agree(p, 1);
  auto esp = EspPairs::create(k, EspConfig{"cluster-1", kA, kA, kEspPort}, kMaterial);
  ASSERT_TRUE(esp.ok());
  auto plane = KernelPlane::create(k, bm, KernelPlaneConfig{kA, kEspPort}, std::move(*esp), epochs);
  ASSERT_TRUE(plane.ok());
  const std::vector<std::string> nets = {"net-1", "net-2", "net-3"};
  for (size_t i = 0; i < nets.size(); ++i) {
    const std::string ns = "sb" + std::to_string(i);
    ASSERT_TRUE(k.createNetns(ns).ok());
    ASSERT_TRUE(k.createBridge(ns, "br0", 1450).ok());
    ASSERT_TRUE((*plane)->attach(EncryptedNetwork{nets[i], 4242 + static_cast<uint32_t>(i), ns, 1400}).ok());
  }
  std::vector<std::thread> threads;
  for (size_t i = 0; i < nets.size(); ++i)
    threads.emplace_back([&, i] {
      for (int n = 0; n < 200; ++n)
        (*plane)->setPeers(nets[i], n % 2 ? entriesFor({kB}) : entriesFor({kB, kC}));
    });
  threads.emplace_back([&] {
    for (int n = 0; n < 200; ++n) EXPECT_TRUE((*plane)->refresh().ok());
  });
  for (auto& t : threads) t.join();
  // Each network's last call was entriesFor({kB}) (n = 199): kC is gone.
  for (const auto& net : nets) EXPECT_EQ(*(*plane)->programmed(net), entriesFor({kB}));
  EXPECT_EQ((*plane)->espPeers(), std::vector<std::string>{kB});
  EXPECT_EQ(k.listXfrmStates()->size(), 2u);
  // kC came and went 100 times at epoch 1: created once, then refused (a
  // new epoch is needed), never twice.
  std::set<std::pair<std::string, uint32_t>> seen(epochs.willCalls.begin(), epochs.willCalls.end());
  EXPECT_EQ(seen.size(), epochs.willCalls.size());
}

}  // namespace
}  // namespace weft::driver
