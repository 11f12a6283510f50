// How often EspEpochBook (driver/esp_epochs.h) writes and fsyncs its state
// file: once for all the peers it knows when the first of them gets an
// outbound SA at an epoch, not once per peer -- and what that means after a
// crash: every peer the file names waits for the next rotation, any other
// does not, so no (peer, epoch) pair is ever created twice.

#include <gtest/gtest.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "driver/crypto_select.h"
#include "driver/esp_epochs.h"
#include "tests/unit/esp_epochs_fixture.h"

namespace weft::driver {
namespace {

using std::chrono::seconds;
using EspEpochWrites = testing::EspEpochBookTest;
const std::string kP = "198.18.0.2", kQ = "198.18.0.3", kR = "198.18.0.4";

std::string host(size_t i) {
  return "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
         std::to_string(i % 256);
}

// The peers the file names, as a set.
std::set<std::string> onDiskPeers(const testing::FakeFiles& f) {
  return f.onDisk()["outUsedBy"].get<std::set<std::string>>();
}

TEST_F(EspEpochWrites, ThePeersKnownGetTheirSasAtAnEpochWithOneWrite) {
  constexpr size_t kPeers = 1024;
  auto b = mustOpen();
  ASSERT_TRUE(b);
  for (size_t i = 0; i < kPeers; ++i) ASSERT_TRUE(b->apply(EspEpochBook::recordFor(5, host(i)), true).ok());
  ASSERT_EQ(files_.writes, 1u);  // the fresh start's
  for (size_t i = 0; i < kPeers; ++i) ASSERT_TRUE(b->willCreateOut(host(i), b->current()).ok()) << host(i);
  EXPECT_EQ(files_.writes, 2u);
  EXPECT_EQ(onDiskPeers(files_).size(), kPeers);
  EXPECT_EQ(b->status()["outUsedBy"].size(), kPeers);
  EXPECT_EQ(b->willCreateOut(host(7), b->current()).code(), EEXIST);  // still once per pair
  // A rotation: the new epoch, then the first pair moved to it records them all.
  clock_.advance(seconds(10));
  ASSERT_TRUE(b->rotate()->rotated);
  EXPECT_EQ(files_.writes, 3u);
  EXPECT_TRUE(onDiskPeers(files_).empty());
  for (size_t i = 0; i < kPeers; ++i) ASSERT_TRUE(b->willCreateOut(host(i), b->current()).ok()) << host(i);
  EXPECT_EQ(files_.writes, 4u);
}

TEST_F(EspEpochWrites, APeerTheFileDoesNotNameIsRecordedBeforeItsSaAsBefore) {
  auto b = mustOpen();
  ASSERT_TRUE(b->apply(EspEpochBook::recordFor(5, kP), true).ok());
  ASSERT_TRUE(b->willCreateOut(kP, b->current()).ok());
  EXPECT_EQ(files_.writes, 2u);
  EXPECT_EQ(onDiskPeers(files_), (std::set<std::string>{kP}));
  // Known only after that write.
  ASSERT_TRUE(b->apply(EspEpochBook::recordFor(5, kQ), true).ok());
  ASSERT_TRUE(b->willCreateOut(kQ, b->current()).ok());
  EXPECT_EQ(files_.writes, 3u);
  EXPECT_EQ(onDiskPeers(files_), (std::set<std::string>{kP, kQ}));
  // Never known (no epoch record): recorded alone.
  ASSERT_TRUE(b->willCreateOut(kR, b->current()).ok());
  EXPECT_EQ(files_.writes, 4u);
  EXPECT_EQ(onDiskPeers(files_), (std::set<std::string>{kP, kQ, kR}));
}

TEST_F(EspEpochWrites, AWriteThatFailsRecordsNoneOfThePeers) {
  auto b = mustOpen();
  ASSERT_TRUE(b->apply(EspEpochBook::recordFor(5, kP), true).ok());
  ASSERT_TRUE(b->apply(EspEpochBook::recordFor(5, kQ), true).ok());
  files_.failWrites = true;
  EXPECT_EQ(b->willCreateOut(kP, b->current()).code(), EIO);
  EXPECT_EQ(b->willCreateOut(kQ, b->current()).code(), EIO);  // not taken as recorded
  EXPECT_TRUE(onDiskPeers(files_).empty());
  files_.failWrites = false;
  ASSERT_TRUE(b->willCreateOut(kQ, b->current()).ok());
  ASSERT_TRUE(b->willCreateOut(kP, b->current()).ok());
  EXPECT_EQ(files_.writes, 2u);
  EXPECT_EQ(onDiskPeers(files_), (std::set<std::string>{kP, kQ}));
}

TEST_F(EspEpochWrites, AfterACrashEveryPeerTheFileNamesWaitsForTheRotationAndNoOther) {
  uint32_t first;
  {
    auto b = mustOpen();
    first = b->current();
    ASSERT_TRUE(b->apply(EspEpochBook::recordFor(5, kP), true).ok());
    ASSERT_TRUE(b->apply(EspEpochBook::recordFor(5, kQ), true).ok());
    ASSERT_TRUE(b->willCreateOut(kP, first).ok());
    // (killed before kQ's SA was created)
  }
  clock_.advance(seconds(3));
  auto b = mustOpen();
  EXPECT_EQ(b->current(), first);
  // kQ may have had an SA as far as the file tells: both wait.
  EXPECT_EQ(b->willCreateOut(kP, first).code(), EEXIST);
  EXPECT_EQ(b->willCreateOut(kQ, first).code(), EEXIST);
  EXPECT_EQ(b->outEpoch(kQ), std::nullopt);
  ASSERT_TRUE(b->willCreateOut(kR, first).ok());  // not in the file: not held up
  clock_.advance(seconds(7));                     // the minimum interval since the epoch began
  ASSERT_TRUE(b->tick().rotated);
  EXPECT_TRUE(b->willCreateOut(kP, first + 1).ok());
  EXPECT_TRUE(b->willCreateOut(kQ, first + 1).ok());
}

TEST_F(EspEpochWrites, TheFileNeverNamesMorePeersThanItMayHold) {
  auto b = mustOpen();
  for (size_t i = 0; i < kMaxCryptoCapsHosts; ++i)
    ASSERT_TRUE(b->apply(EspEpochBook::recordFor(5, host(i)), true).ok());
  // A peer with no record first: it, and as many known ones as fit.
  ASSERT_TRUE(b->willCreateOut(kP, b->current()).ok());
  const auto named = onDiskPeers(files_);
  EXPECT_EQ(named.size(), kMaxCryptoCapsHosts);
  EXPECT_TRUE(named.count(kP));
  // The one left out is recorded when it comes.
  std::string left;
  for (size_t i = 0; i < kMaxCryptoCapsHosts && left.empty(); ++i)
    if (!named.count(host(i))) left = host(i);
  ASSERT_FALSE(left.empty());
  const size_t writes = files_.writes;
  ASSERT_TRUE(b->willCreateOut(left, b->current()).ok());
  EXPECT_EQ(files_.writes, writes + 1);
  EXPECT_TRUE(onDiskPeers(files_).count(left));
  EXPECT_EQ(onDiskPeers(files_).size(), kMaxCryptoCapsHosts);
  // And it reads back.
  auto again = mustOpen();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->willCreateOut(left, again->current()).code(), EEXIST);
}

}  // namespace
}  // namespace weft::driver
