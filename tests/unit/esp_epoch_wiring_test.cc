// The driver and the kernel backend's key epochs (driver/esp_epochs.h): the
// epoch record goes out beside the capability record and follows each
// rotation, the peers' records reach the book, and the plane is refreshed
// whenever what it must install changed -- and never without a reason.

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "driver/driver.h"
#include "kernel/fake_kernel.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/esp_epochs_fixture.h"

using namespace weft;
using namespace weft::driver;

namespace {

std::string id(char c) { return std::string(64, c); }
const std::string kSelf = "198.18.0.1", kPeer = "198.18.0.2";
using weft::driver::testing::kNow;

class Plane : public EncryptedPlane {
 public:
  Status attach(const EncryptedNetwork& n) override {
    attached.insert(n.identity);
    return Status::Ok();
  }
  void detach(const std::string& identity) override { attached.erase(identity); }
  void setPeers(const std::string& identity, const PeerEntries& e) override { peers[identity] = e; }
  void setGroups(const std::string&, const GroupRoutes&) override {}
  std::set<std::string> attached;
  std::map<std::string, PeerEntries> peers;
};

class Recording : public Cluster {
 public:
  void publish(const EndpointRecord& r) override { published.push_back(r); }
  void withdraw(const std::string& network, const std::string& endpoint) override {
    withdrawn.emplace_back(network, endpoint);
  }
  void addSeed(const std::string&) override {}
  std::vector<EndpointRecord> published;
  std::vector<std::pair<std::string, std::string>> withdrawn;
};

using Clock = weft::driver::testing::FakeClock;

class EspEpochWiring : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_ = std::make_unique<kernel::FakeKernel>(dir_ / "netns");
    auto book = EspEpochBook::open({dir_ / kEspEpochsFile, kSelf, {}, &clock_});
    ASSERT_TRUE(book.ok()) << book.error().message;
    book_ = std::move(*book);
    DriverConfig cfg;
    cfg.stateDir = dir_.path();
    cfg.advertiseAddr = kSelf;
    cfg.kernelCryptoOff = "";
    driver_ = std::make_unique<Driver>(cfg, *kernel_);
    driver_->setEncryptedPlane(&userspace_);
    driver_->setKernelPlane(&kernelPlane_, book_.get(), [this] { ++refreshes_; });
    ASSERT_TRUE(driver_->start().ok());
    driver_->setCluster(&cluster_);
  }
  void TearDown() override { driver_.reset(); }
  std::string encryptedNetwork() {
    CreateNetworkRequest r;
    r.networkId = id('a');
    r.generic = {{"encrypted", ""}};
    r.ipv4.push_back({"", "10.1.0.0/24", "10.1.0.1/24", {}});
    EXPECT_TRUE(driver_->createNetwork(r).ok());
    const std::string identity = driver_->networks().at(0).identity;
    driver_->applyRemote(CryptoCaps::record({true}, kPeer), RecordState::kActive);
    driver_->applyRemote({identity, id('e'), "10.1.0.7/24", "", "02:42:0a:01:00:07", kPeer},
                         RecordState::kActive);
    driver_->syncPeers();
    return identity;
  }
  std::vector<EndpointRecord> epochRecords() const {
    std::vector<EndpointRecord> out;
    for (const auto& r : cluster_.published)
      if (EspEpochBook::isRecord(r)) out.push_back(r);
    return out;
  }

  test::TempDir dir_;
  Clock clock_;
  std::unique_ptr<EspEpochBook> book_;
  Plane userspace_, kernelPlane_;
  Recording cluster_;
  int refreshes_ = 0;
  std::unique_ptr<kernel::FakeKernel> kernel_;
  std::unique_ptr<Driver> driver_;
};

}  // namespace

TEST_F(EspEpochWiring, TheEpochRecordGoesOutBesideTheCapabilityRecordAndFollowsRotations) {
  EXPECT_TRUE(epochRecords().empty()) << "no encrypted network: nobody needs it";
  const std::string identity = encryptedNetwork();
  ASSERT_EQ(epochRecords().size(), 1u);
  EXPECT_EQ(epochRecords().back(), EspEpochBook::recordFor(uint32_t(kNow), kSelf));
  EXPECT_EQ(kernelPlane_.peers[identity].flood, std::set<std::string>{kPeer});
  EXPECT_EQ(driver_->kernelPeers(), std::set<std::string>{kPeer});
  // Too soon after the start: asked for, not done.
  auto r = driver_->rotateKernelCrypto();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE((*r)["rotated"].get<bool>());
  EXPECT_EQ((*r)["waitSeconds"], 10);
  EXPECT_EQ(epochRecords().size(), 1u);
  EXPECT_EQ(refreshes_, 0);
  clock_.advance(std::chrono::seconds(9));
  driver_->tickKernelCrypto();
  EXPECT_EQ(epochRecords().size(), 1u);
  EXPECT_EQ(refreshes_, 0);
  clock_.advance(std::chrono::seconds(1));
  driver_->tickKernelCrypto();  // the rotation asked for comes now
  ASSERT_EQ(epochRecords().size(), 2u);
  EXPECT_EQ(epochRecords().back(), EspEpochBook::recordFor(uint32_t(kNow + 1), kSelf));
  EXPECT_EQ(refreshes_, 1);
  driver_->tickKernelCrypto();  // nothing more
  EXPECT_EQ(refreshes_, 1);
  // On request once the interval allows: at once.
  clock_.advance(std::chrono::seconds(10));
  r = driver_->rotateKernelCrypto();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE((*r)["rotated"].get<bool>());
  EXPECT_EQ(epochRecords().back(), EspEpochBook::recordFor(uint32_t(kNow + 2), kSelf));
  EXPECT_EQ(refreshes_, 2);
  // The last encrypted network goes: both records are withdrawn.
  ASSERT_TRUE(driver_->deleteNetwork(id('a')).ok());
  driver_->syncPeers();
  EXPECT_EQ(cluster_.withdrawn,
            (std::vector<std::pair<std::string, std::string>>{{kCryptoCapsNetwork, "caps." + kSelf},
                                                              {kCryptoCapsNetwork, "esp." + kSelf}}));
}

TEST_F(EspEpochWiring, APeersEpochRecordReachesTheBookAndRefreshesThePlane) {
  const std::string identity = encryptedNetwork();
  driver_->applyRemote(EspEpochBook::recordFor(500, kPeer), RecordState::kActive);
  EXPECT_EQ(book_->inEpochs(kPeer), (std::set<uint32_t>{500, 501}));
  EXPECT_EQ(refreshes_, 1);
  driver_->applyRemote(EspEpochBook::recordFor(500, kPeer), RecordState::kActive);  // again: nothing new
  EXPECT_EQ(refreshes_, 1);
  // Refused (lower, malformed): nothing changes, no refresh; and the
  // capability learnt from the peer is untouched by either.
  driver_->applyRemote(EspEpochBook::recordFor(499, kPeer), RecordState::kActive);
  auto bad = EspEpochBook::recordFor(600, kPeer);
  bad.mac = "02:00:zz:00:00:01";
  driver_->applyRemote(bad, RecordState::kActive);
  EXPECT_EQ(book_->inEpochs(kPeer), (std::set<uint32_t>{500, 501}));
  EXPECT_EQ(refreshes_, 1);
  auto sel = driver_->cryptoSelection();
  EXPECT_EQ(sel["networks"][0]["peers"][0]["backend"], "kernel");
  EXPECT_EQ(sel["networks"][0]["peers"][0]["inEpochs"], nlohmann::json::array({500, 501}));
  EXPECT_EQ(sel["kernelEpochs"]["epoch"], kNow);
  // A rotation of the peer: the previous epoch for the grace, then a tick
  // refreshes the plane when it ends.
  driver_->applyRemote(EspEpochBook::recordFor(501, kPeer), RecordState::kActive);
  EXPECT_EQ(refreshes_, 2);
  EXPECT_EQ(book_->inEpochs(kPeer), (std::set<uint32_t>{500, 501, 502}));
  clock_.advance(std::chrono::seconds(60));
  driver_->tickKernelCrypto();
  EXPECT_EQ(refreshes_, 3);
  EXPECT_EQ(book_->inEpochs(kPeer), (std::set<uint32_t>{501, 502}));
  // Withdrawn: nothing known of it any more.
  driver_->applyRemote(EspEpochBook::recordFor(501, kPeer), RecordState::kWithdrawn);
  EXPECT_TRUE(book_->inEpochs(kPeer).empty());
  EXPECT_EQ(refreshes_, 4);
  EXPECT_EQ(kernelPlane_.peers[identity].flood, std::set<std::string>{kPeer});  // its caps are unchanged
}

TEST(EspEpochWiringOff, WithoutTheKernelBackendEpochRecordsAreIgnoredAndRotationIsRefused) {
  test::TempDir dir;
  kernel::FakeKernel k(dir / "netns");
  DriverConfig cfg;
  cfg.stateDir = dir.path();
  cfg.advertiseAddr = kSelf;
  cfg.kernelCryptoOff = "its kernel has no ESP";
  Driver d(cfg, k);
  ASSERT_TRUE(d.start().ok());
  d.applyRemote(EspEpochBook::recordFor(500, kPeer), RecordState::kActive);
  d.applyRemote(CryptoCaps::record({true}, kPeer), RecordState::kActive);
  auto r = d.rotateKernelCrypto();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ENOTSUP);
  EXPECT_NE(r.error().message.find("its kernel has no ESP"), std::string::npos);
  d.tickKernelCrypto();  // a no-op
  EXPECT_TRUE(d.cryptoSelection()["kernelEpochs"].is_null());
}
