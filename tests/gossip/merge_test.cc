#include "gossip/merge.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace weft::gossip {
namespace {

using std::chrono::seconds;

EndpointRecord rec(const std::string& ep, const std::string& owner, uint64_t version, bool deleted = false,
                   const std::string& net = "n1", const std::string& ip = "10.0.0.2/24") {
  EndpointRecord r;
  r.network = net;
  r.endpoint = ep;
  r.ipv4 = ip;
  r.mac = "02:42:0a:00:00:02";
  r.vtep = owner + "-vtep";
  r.owner = owner;
  r.version = version;
  r.deleted = deleted;
  return r;
}

struct SupersedeCase {
  const char* name;
  EndpointRecord incoming, current;
  bool expected;
};

TEST(Supersedes, Table) {
  const std::vector<SupersedeCase> cases = {
      {"higher version wins", rec("e", "a", 2), rec("e", "a", 1), true},
      {"lower version loses", rec("e", "a", 1), rec("e", "a", 2), false},
      {"higher version live beats tombstone", rec("e", "a", 3), rec("e", "a", 2, true), true},
      {"lower version tombstone loses", rec("e", "a", 1, true), rec("e", "a", 2), false},
      {"equal version: tombstone wins", rec("e", "a", 2, true), rec("e", "a", 2), true},
      {"equal version: live loses to tombstone", rec("e", "a", 2), rec("e", "a", 2, true), false},
      {"identical does not supersede", rec("e", "a", 2), rec("e", "a", 2), false},
      {"identical tombstones do not supersede", rec("e", "a", 2, true), rec("e", "a", 2, true), false},
      {"tie: larger owner wins", rec("e", "b", 2), rec("e", "a", 2), true},
      {"tie: smaller owner loses", rec("e", "a", 2), rec("e", "b", 2), false},
      {"tie: larger ip wins", rec("e", "a", 2, false, "n1", "10.0.0.3/24"),
       rec("e", "a", 2, false, "n1", "10.0.0.2/24"), true},
      {"tie: smaller ip loses", rec("e", "a", 2, false, "n1", "10.0.0.2/24"),
       rec("e", "a", 2, false, "n1", "10.0.0.3/24"), false},
  };
  for (const auto& c : cases) EXPECT_EQ(supersedes(c.incoming, c.current), c.expected) << c.name;
}

TEST(Supersedes, IsAStrictTotalOrderOnDistinctRecords) {
  std::vector<EndpointRecord> all;
  for (uint64_t v : {1, 2})
    for (bool d : {false, true})
      for (std::string o : {"a", "b"})
        for (std::string ip : {"10.0.0.2/24", "10.0.0.3/24"}) all.push_back(rec("e", o, v, d, "n1", ip));
  for (const auto& x : all)
    for (const auto& y : all) {
      if (x.sameWire(y)) {
        EXPECT_FALSE(supersedes(x, y));
        continue;
      }
      EXPECT_NE(supersedes(x, y), supersedes(y, x)) << "exactly one direction must win";
      for (const auto& z : all) {
        if (supersedes(x, y) && supersedes(y, z)) {
          EXPECT_TRUE(supersedes(x, z)) << "transitive";
        }
      }
    }
}

TEST(MergeRecord, OutcomesAndTombstoneTime) {
  RecordTable t;
  EXPECT_EQ(mergeRecord(t, rec("e", "a", 1), seconds(1)), MergeOutcome::kInserted);
  EXPECT_EQ(mergeRecord(t, rec("e", "a", 1), seconds(2)), MergeOutcome::kStale);
  EXPECT_EQ(mergeRecord(t, rec("e", "a", 3, true), seconds(5)), MergeOutcome::kReplaced);
  const EndpointRecord* r = findRecord(t, "n1", "e");
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->deleted);
  EXPECT_EQ(r->tombstoneTime, seconds(5));
  EXPECT_EQ(mergeRecord(t, rec("e", "a", 2), seconds(6)), MergeOutcome::kStale);
  EXPECT_TRUE(activeRecords(t, "n1").empty());
  EXPECT_EQ(mergeRecord(t, rec("e", "a", 4), seconds(7)), MergeOutcome::kReplaced);
  EXPECT_EQ(findRecord(t, "n1", "e")->tombstoneTime, seconds(0));
  EXPECT_EQ(activeRecords(t, "n1").size(), 1u);
}

TEST(ExpireTombstones, OnlyTombstonesOlderThanTtl) {
  RecordTable t;
  mergeRecord(t, rec("live", "a", 1), seconds(0));
  mergeRecord(t, rec("old", "a", 2, true), seconds(10));
  mergeRecord(t, rec("young", "a", 3, true), seconds(50));
  auto expired = expireTombstones(t, seconds(70), seconds(60));
  ASSERT_EQ(expired.size(), 0u);
  expired = expireTombstones(t, seconds(71), seconds(60));
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].endpoint, "old");
  EXPECT_NE(findRecord(t, "n1", "live"), nullptr);
  EXPECT_NE(findRecord(t, "n1", "young"), nullptr);
  EXPECT_EQ(findRecord(t, "n1", "old"), nullptr);
  // The watermark survives expiry so digests still agree with peers.
  EXPECT_EQ(computeDigest(t, "n1")["a"].maxVersion, 3u);
}

TEST(Suspension, SuspendResumeDrop) {
  RecordTable t;
  mergeRecord(t, rec("e1", "a", 1), seconds(0));
  mergeRecord(t, rec("e2", "b", 1), seconds(0));
  mergeRecord(t, rec("e3", "a", 2, false, "n2"), seconds(0));
  suspendOwner(t, "a");
  EXPECT_EQ(activeRecords(t, "n1").size(), 1u);
  EXPECT_TRUE(activeRecords(t, "n2").empty());
  EXPECT_NE(findRecord(t, "n1", "e1"), nullptr) << "suspended, not deleted";
  resumeOwner(t, "a");
  EXPECT_EQ(activeRecords(t, "n1").size(), 2u);
  suspendOwner(t, "a");
  auto dropped = dropOwner(t, "a");
  EXPECT_EQ(dropped.size(), 2u);
  EXPECT_EQ(findRecord(t, "n1", "e1"), nullptr);
  EXPECT_EQ(findRecord(t, "n2", "e3"), nullptr);
  EXPECT_EQ(t.suspendedOwners.count("a"), 0u);
  EXPECT_EQ(computeDigest(t, "n1").count("a"), 0u);
}

TEST(Digest, EqualStatesEqualRootsDifferentStatesDiffer) {
  RecordTable x, y;
  for (auto* t : {&x, &y}) {
    mergeRecord(*t, rec("e1", "a", 1), seconds(0));
    mergeRecord(*t, rec("e2", "b", 5), seconds(0));
  }
  EXPECT_EQ(digestRoot(computeDigest(x, "n1")), digestRoot(computeDigest(y, "n1")));
  mergeRecord(y, rec("e3", "b", 6), seconds(0));
  EXPECT_NE(digestRoot(computeDigest(x, "n1")), digestRoot(computeDigest(y, "n1")));
  EXPECT_TRUE(digestHasNews(computeDigest(x, "n1"), computeDigest(y, "n1")));
  EXPECT_FALSE(digestHasNews(computeDigest(y, "n1"), computeDigest(x, "n1")));
}

TEST(Digest, DiffSendsExactlyWhatThePeerLacks) {
  RecordTable ours, theirs;
  mergeRecord(ours, rec("e1", "a", 1), seconds(0));
  mergeRecord(ours, rec("e2", "a", 2), seconds(0));
  mergeRecord(ours, rec("e3", "a", 3, true), seconds(0));
  mergeRecord(ours, rec("f1", "b", 7), seconds(0));
  mergeRecord(theirs, rec("e1", "a", 1), seconds(0));
  mergeRecord(theirs, rec("f1", "b", 7), seconds(0));

  auto send = recordsForDigestDiff(ours, "n1", computeDigest(theirs, "n1"));
  std::vector<std::string> eps;
  for (const auto& r : send) eps.push_back(r.endpoint);
  EXPECT_EQ(eps, (std::vector<std::string>{"e2", "e3"})) << "newer than their watermark, tombstone included";
  for (const auto& r : send) mergeRecord(theirs, r, seconds(1));
  EXPECT_EQ(computeDigest(ours, "n1"), computeDigest(theirs, "n1"));
  EXPECT_TRUE(recordsForDigestDiff(ours, "n1", computeDigest(theirs, "n1")).empty());
  // The side that is behind sends nothing.
  RecordTable behind;
  mergeRecord(behind, rec("e1", "a", 1), seconds(0));
  EXPECT_TRUE(recordsForDigestDiff(behind, "n1", computeDigest(ours, "n1")).empty());
}

TEST(Digest, UnknownOwnerGetsEverythingSameWatermarkDifferentSetGetsAll) {
  RecordTable ours, theirs;
  mergeRecord(ours, rec("e1", "a", 1), seconds(0));
  mergeRecord(ours, rec("e2", "a", 2), seconds(0));
  EXPECT_EQ(recordsForDigestDiff(ours, "n1", {}).size(), 2u);
  mergeRecord(theirs, rec("e2", "a", 2), seconds(0));  // missed e1 (older)
  auto send = recordsForDigestDiff(ours, "n1", computeDigest(theirs, "n1"));
  EXPECT_EQ(send.size(), 2u);
  for (const auto& r : send) mergeRecord(theirs, r, seconds(0));
  EXPECT_EQ(computeDigest(ours, "n1"), computeDigest(theirs, "n1"));
}

// Property: the final state depends only on the set of updates, never on the
// order (or duplication) in which they were merged.
TEST(MergeProperty, AnyOrderSameState) {
  std::mt19937_64 rng(42);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<EndpointRecord> updates;
    std::uniform_int_distribution<int> ep(0, 4), owner(0, 2), ver(1, 6), coin(0, 3), ip(2, 4);
    for (int i = 0; i < 30; ++i)
      updates.push_back(rec("e" + std::to_string(ep(rng)), "o" + std::to_string(owner(rng)),
                            static_cast<uint64_t>(ver(rng)), coin(rng) == 0, "n1",
                            "10.0.0." + std::to_string(ip(rng)) + "/24"));
    RecordTable reference;
    for (const auto& u : updates) mergeRecord(reference, u, seconds(0));
    for (int perm = 0; perm < 10; ++perm) {
      auto shuffled = updates;
      std::shuffle(shuffled.begin(), shuffled.end(), rng);
      shuffled.insert(shuffled.end(), shuffled.begin(), shuffled.begin() + 5);  // duplicates
      RecordTable t;
      for (const auto& u : shuffled) mergeRecord(t, u, seconds(0));
      ASSERT_EQ(t.networks["n1"].records.size(), reference.networks["n1"].records.size());
      for (const auto& [k, r] : reference.networks["n1"].records)
        ASSERT_TRUE(t.networks["n1"].records[k].sameWire(r)) << "trial " << trial << " key " << k;
      ASSERT_EQ(computeDigest(t, "n1"), computeDigest(reference, "n1"));
    }
  }
}

}  // namespace
}  // namespace weft::gossip
