#include "gossip/daemon/auth_audit.h"

#include <gtest/gtest.h>

namespace weft::gossip {
namespace {

using std::chrono::seconds;

std::string hostNo(size_t i) {
  return "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
         std::to_string(i % 256);
}

TEST(AuthAudit, ManySourcesStayWithinTheCapAndTheTopOffendersStay) {
  AuthAudit a;
  Time t{};
  for (int i = 0; i < 50; ++i) a.record("198.18.0.66", t);
  for (size_t i = 0; i < 15000; ++i) a.record(hostNo(i), t + seconds(1));
  for (int i = 0; i < 5; ++i) a.record("198.18.0.77", t + seconds(2));
  EXPECT_EQ(a.sources().size(), kMaxAuditedSources);
  ASSERT_TRUE(a.sources().count("198.18.0.66"));
  EXPECT_EQ(a.sources().at("198.18.0.66").failures, 50u);
  ASSERT_TRUE(a.sources().count("198.18.0.77"));
  EXPECT_EQ(a.total(), 15055u);
  uint64_t kept = 0;
  for (const auto& [h, s] : a.sources()) kept += s.failures;
  EXPECT_EQ(kept + a.untracked(), a.total());
}

TEST(AuthAudit, EntriesExpireAfterTheirTtl) {
  AuthAudit a;
  Time t{};
  a.record("198.18.0.1", t);
  a.record("198.18.0.2", t + kAuditedSourceTtl / 2);
  a.expire(t + kAuditedSourceTtl);
  EXPECT_FALSE(a.sources().count("198.18.0.1"));
  EXPECT_TRUE(a.sources().count("198.18.0.2"));
  EXPECT_EQ(a.untracked(), 1u);
}

TEST(AuthAudit, OneSummaryLinePerIntervalNamingTheTopSources) {
  AuthAudit a;
  Time t{};
  EXPECT_FALSE(a.summary(t, "fp"));  // nothing failed: nothing to say
  for (size_t i = 0; i < 1000; ++i) a.record(hostNo(i), t);
  for (int i = 0; i < 9; ++i) a.record("198.18.0.9", t);
  auto line = a.summary(t, "fp");
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("1009 packet(s)"), std::string::npos) << *line;
  ASSERT_NE(line->find("198.18.0.9 (9)"), std::string::npos) << *line;
  EXPECT_LT(line->find("198.18.0.9 (9)"), line->find(" (1)")) << *line;  // the top offender first
  EXPECT_NE(line->find("and others"), std::string::npos) << *line;
  EXPECT_LT(line->size(), 400u);
  a.record("198.18.0.9", t + seconds(1));
  EXPECT_FALSE(a.summary(t + kAuthLogInterval - seconds(1), "fp"));  // too soon
  line = a.summary(t + kAuthLogInterval, "fp");
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("1 packet(s)"), std::string::npos) << *line;
  EXPECT_FALSE(a.summary(t + 3 * kAuthLogInterval, "fp"));  // nothing new
}

}  // namespace
}  // namespace weft::gossip
