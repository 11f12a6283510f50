#include "datapath/replay_window.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace weft::datapath {
namespace {

constexpr uint64_t W = ReplayWindow::kWindowSize;

// check() then accept(), as the receiver does after authentication.
ReplayVerdict take(ReplayWindow& w, uint64_t seq) {
  auto v = w.check(seq);
  if (v == ReplayVerdict::kFresh) w.accept(seq);
  return v;
}

TEST(DatapathReplayWindow, InOrderAcceptedOnceDuplicatesRefused) {
  ReplayWindow w;
  for (uint64_t s = 1; s <= 5000; ++s) ASSERT_EQ(take(w, s), ReplayVerdict::kFresh) << s;
  for (uint64_t s = 5000 - W + 1; s <= 5000; ++s) ASSERT_EQ(take(w, s), ReplayVerdict::kDuplicate) << s;
  EXPECT_EQ(take(w, 5000 - W), ReplayVerdict::kTooOld);
  EXPECT_EQ(take(w, 1), ReplayVerdict::kTooOld);
}

TEST(DatapathReplayWindow, SequenceZeroIsNeverAccepted) {
  ReplayWindow w;
  EXPECT_EQ(w.check(0), ReplayVerdict::kTooOld);
}

TEST(DatapathReplayWindow, CheckAloneDoesNotMoveTheWindow) {
  // A forged packet passes check() but never reaches accept().
  ReplayWindow w;
  take(w, 10);
  EXPECT_EQ(w.check(1'000'000), ReplayVerdict::kFresh);
  EXPECT_EQ(w.highest(), 10u);
  EXPECT_EQ(take(w, 9), ReplayVerdict::kFresh);
}

TEST(DatapathReplayWindow, EdgesOfTheWindowExactly) {
  ReplayWindow w;
  const uint64_t top = 10'000;
  take(w, top);
  EXPECT_EQ(w.check(top - (W - 1)), ReplayVerdict::kFresh);  // the oldest still remembered
  EXPECT_EQ(w.check(top - W), ReplayVerdict::kTooOld);       // one older
  EXPECT_EQ(take(w, top - (W - 1)), ReplayVerdict::kFresh);
  EXPECT_EQ(take(w, top - (W - 1)), ReplayVerdict::kDuplicate);
  // Moving the top by one pushes that oldest one out.
  take(w, top + 1);
  EXPECT_EQ(w.check(top - (W - 1)), ReplayVerdict::kTooOld);
  EXPECT_EQ(w.check(top - (W - 2)), ReplayVerdict::kFresh);
}

TEST(DatapathReplayWindow, FarFutureJumpForgetsEverythingBehindTheNewWindow) {
  ReplayWindow w;
  for (uint64_t s = 1; s <= 100; ++s) take(w, s);
  const uint64_t far = uint64_t{1} << 40;
  EXPECT_EQ(take(w, far), ReplayVerdict::kFresh);
  EXPECT_EQ(take(w, 50), ReplayVerdict::kTooOld);
  // Nothing of the old bits leaks into the new window: every slot is fresh.
  for (uint64_t s = far - (W - 1); s < far; ++s) ASSERT_EQ(w.check(s), ReplayVerdict::kFresh) << s;
  EXPECT_EQ(take(w, far), ReplayVerdict::kDuplicate);
}

TEST(DatapathReplayWindow, JumpOfLessThanAWindowKeepsWhatIsStillInside) {
  ReplayWindow w;
  for (uint64_t s = 1; s <= 3000; ++s) take(w, s);
  take(w, 3000 + W / 2);
  for (uint64_t s = 3000 + W / 2 - (W - 1); s <= 3000; ++s)
    ASSERT_EQ(w.check(s), ReplayVerdict::kDuplicate) << s;
  for (uint64_t s = 3001; s < 3000 + W / 2; ++s) ASSERT_EQ(w.check(s), ReplayVerdict::kFresh) << s;
}

TEST(DatapathReplayWindow, NearTheTopOfTheSequenceSpace) {
  ReplayWindow w;
  const uint64_t max = ~uint64_t{0};
  EXPECT_EQ(take(w, max - 5), ReplayVerdict::kFresh);
  EXPECT_EQ(take(w, max), ReplayVerdict::kFresh);
  EXPECT_EQ(take(w, max - 5), ReplayVerdict::kDuplicate);
  EXPECT_EQ(take(w, max - 1), ReplayVerdict::kFresh);
  EXPECT_EQ(take(w, max - W), ReplayVerdict::kTooOld);
}

// Against a model (every sequence ever accepted, and the highest): random
// reordering, duplicates and jumps across many wraps of the ring.
TEST(DatapathReplayWindow, AgreesWithAModelUnderRandomTraffic) {
  std::mt19937_64 rng(42);
  ReplayWindow w;
  std::set<uint64_t> seen;
  uint64_t top = 0, next = 1;
  for (int i = 0; i < 200'000; ++i) {
    uint64_t seq;
    switch (rng() % 10) {
      case 0:  // duplicate or old
        seq = top > 3 * W ? top - rng() % (3 * W) : 1 + rng() % (top + 1);
        break;
      case 1:  // jump ahead
        next += rng() % (2 * W);
        seq = next++;
        break;
      default:  // reordered a little
        seq = next + rng() % 64;
        next += 1;
    }
    ReplayVerdict want;
    if (seq == 0 || (seq <= top && top - seq >= W))
      want = ReplayVerdict::kTooOld;
    else if (seen.contains(seq))
      want = ReplayVerdict::kDuplicate;
    else
      want = ReplayVerdict::kFresh;
    ASSERT_EQ(take(w, seq), want) << "step " << i << " seq " << seq << " top " << top;
    if (want == ReplayVerdict::kFresh) {
      seen.insert(seq);
      top = std::max(top, seq);
    }
  }
  EXPECT_GT(top, 100 * W);  // the ring wrapped many times
}

}  // namespace
}  // namespace weft::datapath
