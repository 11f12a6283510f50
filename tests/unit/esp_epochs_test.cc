// The kernel ESP backend's key epochs (driver/esp_epochs.h): this host's
// epoch durable before use, across restarts, wipes and corrupt files; its
// rotation by time, on request and for pairs that need a fresh epoch, never
// faster than the minimum interval; the peers' records, their grace, limits
// and malformed ones.

#include "driver/esp_epochs.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "common/json_file.h"
#include "driver/crypto_select.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/esp_epochs_fixture.h"

namespace weft::driver {
namespace {

using std::chrono::seconds;
const std::string kP = "198.18.0.2", kQ = "198.18.0.3";
using testing::kNow;
using testing::kPath;
using testing::kSelf;

using EspEpochsTest = testing::EspEpochBookTest;

TEST_F(EspEpochsTest, AFreshStartBeginsAtTheClockAndRecordsItBeforeUse) {
  auto b = mustOpen();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->current(), uint32_t(kNow));
  ASSERT_EQ(files_.writes, 1u);
  EXPECT_EQ(files_.onDisk()["epoch"], kNow);
  EXPECT_EQ(files_.onDisk()["outUsedBy"], nlohmann::json::array());
  EXPECT_EQ(b->outEpoch(kP), uint32_t(kNow));
}

TEST_F(EspEpochsTest, AFreshStartThatCannotBeRecordedIsRefused) {
  files_.failWrites = true;
  auto b = open();
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find(kPath), std::string::npos) << b.error().message;
}

TEST_F(EspEpochsTest, AnOutboundSaIsRecordedDurablyBeforeItIsAllowed) {
  auto b = mustOpen();
  files_.failWrites = true;
  auto st = b->willCreateOut(kP, b->current());
  ASSERT_FALSE(st.ok());  // not recorded: not to be created
  EXPECT_EQ(st.code(), EIO);
  EXPECT_EQ(files_.onDisk()["outUsedBy"], nlohmann::json::array());
  files_.failWrites = false;
  ASSERT_TRUE(b->willCreateOut(kP, b->current()).ok());
  // On disk when willCreateOut returned.
  EXPECT_EQ(files_.onDisk()["outUsedBy"], nlohmann::json::array({kP}));
  // A second SA to the same peer at the same epoch is refused.
  EXPECT_EQ(b->willCreateOut(kP, b->current()).code(), EEXIST);
  // Only at the current epoch.
  EXPECT_EQ(b->willCreateOut(kQ, b->current() + 1).code(), EINVAL);
}

TEST_F(EspEpochsTest, ARestartKeepsTheEpochAndItsUseAndAPairUsedBeforeWaitsForARotation) {
  uint32_t first;
  {
    auto b = mustOpen();
    first = b->current();
    ASSERT_TRUE(b->willCreateOut(kP, first).ok());
  }
  clock_.advance(seconds(3));
  auto b = mustOpen();
  EXPECT_EQ(b->current(), first);
  // The kernel may still hold the SA (the plane adopts it): the current epoch.
  EXPECT_EQ(b->outEpoch(kP), first);
  // It must be created anew (a reboot): refused, and the pair waits.
  EXPECT_EQ(b->willCreateOut(kP, first).code(), EEXIST);
  EXPECT_EQ(b->outEpoch(kP), std::nullopt);
  EXPECT_EQ(b->outEpoch(kQ), first);  // other peers are not held up
  // The rotation comes as soon as the minimum interval since the epoch's
  // start (3 s before the restart) allows: 7 s more.
  clock_.advance(seconds(6));
  EXPECT_FALSE(b->tick().rotated);
  clock_.advance(seconds(1));
  auto t = b->tick();
  EXPECT_TRUE(t.rotated);
  EXPECT_TRUE(t.changed);
  EXPECT_EQ(b->current(), first + 1);
  EXPECT_EQ(b->outEpoch(kP), first + 1);
  EXPECT_TRUE(b->willCreateOut(kP, first + 1).ok());
}

TEST_F(EspEpochsTest, APairThePlaneDroppedAndWantsAgainGetsAFreshEpochAtTheNextRotation) {
  auto b = mustOpen();
  const uint32_t e = b->current();
  EXPECT_FALSE(b->needFresh(kP));  // never used: the epoch holds nothing up
  EXPECT_EQ(b->outEpoch(kP), e);
  EXPECT_FALSE(b->status()["rotationWanted"].get<bool>());
  ASSERT_TRUE(b->willCreateOut(kP, e).ok());
  EXPECT_TRUE(b->needFresh(kP));   // the plane removed it and wants it back
  EXPECT_FALSE(b->needFresh(kP));  // asked already
  EXPECT_EQ(b->outEpoch(kP), std::nullopt);
  EXPECT_EQ(b->outEpoch(kQ), e);
  clock_.advance(seconds(10));
  EXPECT_TRUE(b->tick().rotated);
  EXPECT_EQ(b->outEpoch(kP), e + 1);
}

TEST_F(EspEpochsTest, AWipedStateDirectoryStartsAboveEveryEpochUsedBefore) {
  auto b = mustOpen();
  ASSERT_TRUE(b->willCreateOut(kP, b->current()).ok());
  // As many rotations as fit in 100 s: one per 10 s.
  for (int i = 0; i < 10; ++i) {
    clock_.advance(seconds(10));
    ASSERT_TRUE(b->rotate()->rotated);
  }
  const uint32_t used = b->current();
  EXPECT_EQ(used, uint32_t(kNow + 10));
  files_.disk.clear();  // wiped
  clock_.advance(seconds(1));
  auto again = mustOpen();
  EXPECT_GT(again->current(), used);
}

TEST_F(EspEpochsTest, ACorruptOrUnreadableFileIsRefusedNamingItAndNotOverwritten) {
  for (const std::string bad :
       {"", "{", "[]", "{\"version\":2,\"epoch\":5,\"startedAt\":1,\"outUsedBy\":[]}",
        "{\"version\":1,\"epoch\":0,\"startedAt\":1,\"outUsedBy\":[]}",
        "{\"version\":1,\"epoch\":-3,\"startedAt\":1,\"outUsedBy\":[]}",
        "{\"version\":1,\"epoch\":4294967295,\"startedAt\":1,\"outUsedBy\":[]}",
        "{\"version\":1,\"epoch\":\"5\",\"startedAt\":1,\"outUsedBy\":[]}",
        "{\"version\":1,\"epoch\":5,\"outUsedBy\":[]}", "{\"version\":1,\"epoch\":5,\"startedAt\":1}",
        "{\"version\":1,\"epoch\":5,\"startedAt\":1,\"outUsedBy\":[\"not-a-host\"]}",
        "{\"version\":1,\"epoch\":5,\"startedAt\":1,\"outUsedBy\":[7]}"}) {
    files_.disk[kPath] = bad;
    files_.writes = 0;
    auto b = open();
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_EQ(b.code(), EINVAL);
    EXPECT_NE(b.error().message.find(kPath), std::string::npos) << b.error().message;
    EXPECT_EQ(files_.writes, 0u) << bad;
    EXPECT_EQ(files_.disk[kPath], bad);
  }
  files_.disk[kPath] = std::string(kMaxEspEpochsFileSize + 1, ' ');
  EXPECT_FALSE(open().ok());
  files_.disk.erase(kPath);
  files_.readError = EACCES;
  auto b = open();
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.code(), EACCES);
  EXPECT_TRUE(files_.disk.empty());  // not mistaken for a fresh start
}

TEST_F(EspEpochsTest, RotationByTimeOnceTheEpochIsInUse) {
  auto b = mustOpen();  // default policy: every 600 s
  const uint32_t e = b->current();
  clock_.advance(seconds(700));
  EXPECT_FALSE(b->tick().rotated);  // nobody uses it: its age means nothing
  ASSERT_TRUE(b->willCreateOut(kP, e).ok());
  auto t = b->tick();
  EXPECT_TRUE(t.rotated);
  EXPECT_EQ(b->current(), e + 1);
  EXPECT_EQ(files_.onDisk()["epoch"], e + 1);
  EXPECT_EQ(files_.onDisk()["startedAt"], clock_.unix);
  EXPECT_EQ(files_.onDisk()["outUsedBy"], nlohmann::json::array());
  ASSERT_TRUE(b->willCreateOut(kP, e + 1).ok());
  clock_.advance(seconds(599));
  EXPECT_FALSE(b->tick().rotated);
  clock_.advance(seconds(1));
  EXPECT_TRUE(b->tick().rotated);
  EXPECT_EQ(b->current(), e + 2);
}

TEST_F(EspEpochsTest, AnOldEpochFromTheFileIsRotatedAtOnce) {
  files_.disk[kPath] =
      nlohmann::json{{"version", 1}, {"epoch", 77}, {"startedAt", kNow - 3600}, {"outUsedBy", {kP}}}.dump();
  auto b = mustOpen();
  EXPECT_EQ(b->current(), 77u);
  EXPECT_TRUE(b->tick().rotated);
  EXPECT_EQ(b->current(), 78u);
}

TEST_F(EspEpochsTest, AClockThatWentBackDelaysARotationByTheMinimumIntervalAtMost) {
  files_.disk[kPath] = nlohmann::json{{"version", 1},
                                      {"epoch", 77},
                                      {"startedAt", kNow + 86400},  // a day ahead of the clock now
                                      {"outUsedBy", nlohmann::json::array()}}
                           .dump();
  auto b = mustOpen();
  EXPECT_FALSE(b->rotate()->rotated);
  clock_.advance(seconds(10));
  EXPECT_TRUE(b->tick().rotated);
}

TEST_F(EspEpochsTest, ARequestedRotationWaitsForTheMinimumInterval) {
  auto b = mustOpen();
  const uint32_t e = b->current();
  clock_.advance(seconds(4));
  auto r = b->rotate();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->rotated);
  EXPECT_EQ(r->wait, seconds(6));
  EXPECT_EQ(b->current(), e);
  EXPECT_TRUE(b->status()["rotationWanted"].get<bool>());
  clock_.advance(seconds(5));
  EXPECT_FALSE(b->tick().rotated);
  clock_.advance(seconds(1));
  EXPECT_TRUE(b->tick().rotated);
  EXPECT_EQ(b->current(), e + 1);
  // Again at once: too soon again.
  r = b->rotate();
  EXPECT_FALSE(r->rotated);
  EXPECT_EQ(r->wait, seconds(10));
  clock_.advance(seconds(10));
  r = b->rotate();
  EXPECT_TRUE(r->rotated);
  EXPECT_EQ(r->epoch, e + 2);
  EXPECT_FALSE(b->tick().rotated);  // nothing more wanted
}

TEST_F(EspEpochsTest, ARotationThatCannotBeRecordedChangesNothing) {
  auto b = mustOpen();
  const uint32_t e = b->current();
  ASSERT_TRUE(b->willCreateOut(kP, e).ok());
  clock_.advance(seconds(10));
  files_.failWrites = true;
  auto r = b->rotate();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(b->current(), e);
  EXPECT_EQ(files_.onDisk()["epoch"], e);
  EXPECT_EQ(b->willCreateOut(kP, e).code(), EEXIST);  // still used
  clock_.advance(seconds(600));
  auto t = b->tick();
  EXPECT_FALSE(t.rotated);
  EXPECT_NE(t.error.find("recording epoch"), std::string::npos) << t.error;
  files_.failWrites = false;
  EXPECT_TRUE(b->tick().rotated);
}

TEST_F(EspEpochsTest, UsedUpEpochsAreAnErrorNotAWrap) {
  files_.disk[kPath] = nlohmann::json{{"version", 1},
                                      {"epoch", kMaxEspEpoch},
                                      {"startedAt", kNow - 100},
                                      {"outUsedBy", nlohmann::json::array()}}
                           .dump();
  auto b = mustOpen();
  EXPECT_EQ(b->current(), kMaxEspEpoch);
  auto r = b->rotate();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ERANGE);
  EXPECT_EQ(b->current(), kMaxEspEpoch);
}

TEST_F(EspEpochsTest, ThePolicyIsBounded) {
  EXPECT_TRUE(validate(EspEpochPolicy{}).ok());
  EXPECT_FALSE(validate(EspEpochPolicy{seconds(600), seconds(9), seconds(60)}).ok());
  EXPECT_FALSE(validate(EspEpochPolicy{seconds(5), seconds(10), seconds(60)}).ok());
  EXPECT_FALSE(validate(EspEpochPolicy{kMaxEspKeyAge + seconds(1), seconds(10), seconds(60)}).ok());
  EXPECT_FALSE(validate(EspEpochPolicy{seconds(600), seconds(10), seconds(0)}).ok());
  EXPECT_FALSE(validate(EspEpochPolicy{seconds(600), seconds(10), kMaxEspGrace + seconds(1)}).ok());
  EXPECT_TRUE(validate(EspEpochPolicy{seconds(10), seconds(10), kMaxEspGrace}).ok());
  EXPECT_FALSE(open(EspEpochPolicy{seconds(600), seconds(1), seconds(60)}).ok());
}

TEST_F(EspEpochsTest, UsedPeersAreBounded) {
  auto b = mustOpen();
  for (size_t i = 0; i < kMaxCryptoCapsHosts; ++i) {
    const std::string host = "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
                             std::to_string(i % 256);
    ASSERT_TRUE(b->willCreateOut(host, b->current()).ok()) << host;
  }
  EXPECT_EQ(b->willCreateOut("10.200.0.1", b->current()).code(), ENOSPC);
  // What was recorded reads back.
  auto again = mustOpen();
  EXPECT_EQ(again->willCreateOut("10.0.0.7", again->current()).code(), EEXIST);
}

// --- the peers' records ---

TEST_F(EspEpochsTest, ThisHostsRecordCarriesItsEpochAndIsNotACapabilityRecord) {
  auto b = mustOpen();
  const EndpointRecord r = b->record();
  EXPECT_EQ(r.network, kCryptoCapsNetwork);
  EXPECT_EQ(r.endpoint, "esp." + kSelf);
  EXPECT_EQ(r.vtep, kSelf);
  EXPECT_TRUE(EspEpochBook::isRecord(r));
  EXPECT_FALSE(EspEpochBook::isRecord(CryptoCaps::record({true}, kSelf)));
  EXPECT_EQ(EspEpochBook::recordFor(0x0a0b0c0d, kP).mac, "02:00:0a:0b:0c:0d");
  EXPECT_EQ(EspEpochBook::recordFor(1, "fd00::2").endpoint, "esp.fd00--2");
  // The capability parser leaves it alone: no refusal, nothing learnt.
  CryptoCaps caps;
  EXPECT_TRUE(caps.apply(EspEpochBook::recordFor(7, kP), true, kSelf).ok());
  EXPECT_FALSE(caps.of(kP));
}

TEST_F(EspEpochsTest, APeersEpochsAreItsCurrentAndNextAndThePreviousDuringTheGrace) {
  auto b = mustOpen();
  EXPECT_TRUE(b->inEpochs(kP).empty());  // nothing known yet
  bool changed = false;
  ASSERT_TRUE(b->apply(EspEpochBook::recordFor(100, kP), true, &changed).ok());
  EXPECT_TRUE(changed);
  EXPECT_EQ(b->inEpochs(kP), (std::set<uint32_t>{100, 101}));
  ASSERT_TRUE(b->apply(EspEpochBook::recordFor(100, kP), true, &changed).ok());
  EXPECT_FALSE(changed);  // published again
  ASSERT_TRUE(b->apply(EspEpochBook::recordFor(101, kP), true, &changed).ok());
  EXPECT_TRUE(changed);
  EXPECT_EQ(b->inEpochs(kP), (std::set<uint32_t>{100, 101, 102}));
  clock_.advance(seconds(59));
  EXPECT_FALSE(b->tick().changed);
  EXPECT_EQ(b->inEpochs(kP), (std::set<uint32_t>{100, 101, 102}));
  clock_.advance(seconds(1));
  EXPECT_EQ(b->inEpochs(kP), (std::set<uint32_t>{101, 102}));
  EXPECT_TRUE(b->tick().changed);  // the plane drops epoch 100 now
  EXPECT_FALSE(b->tick().changed);
  // A jump (the peer restarted after a reboot and rotated): the previous is
  // kept for the grace all the same.
  ASSERT_TRUE(b->apply(EspEpochBook::recordFor(5000, kP), true).ok());
  EXPECT_EQ(b->inEpochs(kP), (std::set<uint32_t>{101, 5000, 5001}));
  EXPECT_EQ(b->status()["peers"][kP]["epoch"], 5000);
  EXPECT_EQ(b->inEpochs(kQ), std::set<uint32_t>{});
}

TEST_F(EspEpochsTest, APeersLowerEpochIsRefusedUntilItsRecordWasWithdrawn) {
  auto b = mustOpen();
  ASSERT_TRUE(b->apply(EspEpochBook::recordFor(500, kP), true).ok());
  bool changed = true;
  auto st = b->apply(EspEpochBook::recordFor(499, kP), true, &changed);
  EXPECT_EQ(st.code(), ERANGE);
  EXPECT_FALSE(changed);
  EXPECT_EQ(b->inEpochs(kP), (std::set<uint32_t>{500, 501}));
  ASSERT_TRUE(b->apply(EspEpochBook::recordFor(500, kP), false, &changed).ok());
  EXPECT_TRUE(changed);
  EXPECT_TRUE(b->inEpochs(kP).empty());
  ASSERT_TRUE(b->apply(EspEpochBook::recordFor(3, kP), true).ok());
  EXPECT_EQ(b->inEpochs(kP), (std::set<uint32_t>{3, 4}));
}

TEST_F(EspEpochsTest, MalformedOrForgedRecordsAreRefusedAndChangeNothing) {
  auto b = mustOpen();
  ASSERT_TRUE(b->apply(EspEpochBook::recordFor(10, kP), true).ok());
  auto forged = EspEpochBook::recordFor(20, kP);
  forged.vtep = kQ;  // the key names another owner
  EXPECT_EQ(b->apply(forged, true).code(), EINVAL);
  auto noOwner = EspEpochBook::recordFor(20, kP);
  noOwner.vtep = "host-2";
  EXPECT_EQ(b->apply(noOwner, true).code(), EINVAL);
  for (const std::string mac :
       {"02:00:00:00:00", "02:42:00:00:00:14", "02:00:00:00:00:zz", "02:00:00:00:00:1G", "02:00:00:00:00:1A",
        "02:00-00:00:00:14", "02:00:00:00:00:00", "02:00:ff:ff:ff:ff", "02:00:00:00:00:140"}) {
    auto r = EspEpochBook::recordFor(20, kP);
    r.mac = mac;
    EXPECT_EQ(b->apply(r, true).code(), EINVAL) << mac;
  }
  auto otherNet = EspEpochBook::recordFor(20, kP);
  otherNet.network = "crypto:other";
  EXPECT_EQ(b->apply(otherNet, true).code(), EINVAL);
  EXPECT_EQ(b->apply(CryptoCaps::record({true}, kP), true).code(), EINVAL);  // not this kind
  EXPECT_EQ(b->inEpochs(kP), (std::set<uint32_t>{10, 11}));
  EXPECT_EQ(b->peers(), 1u);
  // The largest epoch there is still has a next one.
  ASSERT_TRUE(b->apply(EspEpochBook::recordFor(kMaxEspEpoch, kQ), true).ok());
  EXPECT_EQ(b->inEpochs(kQ), (std::set<uint32_t>{kMaxEspEpoch, kMaxEspEpoch + 1}));
}

TEST_F(EspEpochsTest, ThisHostsOwnRecordIsIgnored) {
  auto b = mustOpen();
  bool changed = true;
  ASSERT_TRUE(b->apply(EspEpochBook::recordFor(9, kSelf), true, &changed).ok());
  EXPECT_FALSE(changed);
  EXPECT_EQ(b->peers(), 0u);
}

TEST_F(EspEpochsTest, PeersKnownAreBounded) {
  auto b = mustOpen();
  for (size_t i = 0; i < kMaxCryptoCapsHosts; ++i) {
    const std::string host = "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
                             std::to_string(i % 256);
    ASSERT_TRUE(b->apply(EspEpochBook::recordFor(5, host), true).ok()) << host;
  }
  EXPECT_EQ(b->apply(EspEpochBook::recordFor(5, "10.200.0.1"), true).code(), ENOSPC);
  EXPECT_TRUE(b->inEpochs("10.200.0.1").empty());
  // Known hosts still move on; a withdrawn one makes room.
  EXPECT_TRUE(b->apply(EspEpochBook::recordFor(6, "10.0.0.1"), true).ok());
  EXPECT_TRUE(b->apply(EspEpochBook::recordFor(6, "10.0.0.1"), false).ok());
  auto st = b->apply(EspEpochBook::recordFor(5, "10.200.0.1"), true);
  EXPECT_TRUE(st.ok()) << st.error().message;
}

// The real file: written durably where the path says, read back at restart.
TEST(EspEpochsFile, TheRealFileSurvivesARestart) {
  test::TempDir dir;
  const std::string path = dir.path() + "/" + kEspEpochsFile;
  uint32_t first;
  {
    auto b = EspEpochBook::open({path, kSelf, {}});
    ASSERT_TRUE(b.ok()) << b.error().message;
    first = (*b)->current();
    ASSERT_TRUE((*b)->willCreateOut(kP, first).ok());
  }
  auto text = readFile(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(nlohmann::json::parse(*text)["outUsedBy"], nlohmann::json::array({kP}));
  auto b = EspEpochBook::open({path, kSelf, {}});
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ((*b)->current(), first);
  EXPECT_EQ((*b)->willCreateOut(kP, first).code(), EEXIST);
}

}  // namespace
}  // namespace weft::driver
