// The names weft answers for (services/name_table.h): local and remote
// name sets, ownership checked against endpoint records, round robin,
// bounds.
#include "services/name_table.h"

#include <gtest/gtest.h>

using namespace weft;
using namespace weft::services;

namespace {

const std::string kNet = "subnet:10.0.0.0/24";
IpAddr ip(const char* s) { return *IpAddr::parse(s); }
NameSet set(const std::string& ep, const std::string& owner, const char* addr,
            std::vector<std::string> names) {
  return NameSet{kNet, ep, owner, ip(addr), std::nullopt, std::move(names)};
}

}  // namespace

TEST(NameTable, LocalNamesAnswerAtOnceCaseInsensitively) {
  NameTable t;
  ASSERT_TRUE(t.putLocal(set("e1", "", "10.0.0.2", {"Web1", "web"})).ok());
  auto a = t.lookup(kNet, "WEB1");
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, std::vector<IpAddr>{ip("10.0.0.2")});
  EXPECT_FALSE(t.lookup(kNet, "db"));
  EXPECT_FALSE(t.lookup("subnet:10.1.0.0/24", "web1"));  // another network knows nothing of it
}

TEST(NameTable, RemoteNamesAnswerOnlyWithTheOwnersEndpointRecord) {
  NameTable t;
  ASSERT_TRUE(t.putRemote(set("e2", "hostB", "10.0.0.5", {"db"})).ok());
  EXPECT_FALSE(t.lookup(kNet, "db"));  // no endpoint record yet
  t.endpointSeen(kNet, "e2", "hostB", ip("10.0.0.5"), std::nullopt, true);
  ASSERT_TRUE(t.lookup(kNet, "db"));
  // The endpoint goes: its name stops answering at once.
  t.endpointSeen(kNet, "e2", "hostB", ip("10.0.0.5"), std::nullopt, false);
  EXPECT_FALSE(t.lookup(kNet, "db"));
}

TEST(NameTable, NamesForAnotherMembersEndpointAreRefused) {
  NameTable t;
  t.endpointSeen(kNet, "e2", "hostB", ip("10.0.0.5"), std::nullopt, true);
  auto st = t.putRemote(set("e2", "hostC", "10.0.0.5", {"db"}));
  EXPECT_EQ(st.code(), EPERM);
  st = t.putRemote(set("e2", "hostB", "10.0.0.9", {"db"}));  // an address the endpoint does not have
  EXPECT_EQ(st.code(), EPERM);
  EXPECT_FALSE(t.lookup(kNet, "db"));
  // Written before the endpoint record arrived, by the wrong member: held,
  // never answered.
  ASSERT_TRUE(t.putRemote(set("e3", "hostC", "10.0.0.6", {"cache"})).ok());
  t.endpointSeen(kNet, "e3", "hostB", ip("10.0.0.6"), std::nullopt, true);
  EXPECT_FALSE(t.lookup(kNet, "cache"));
  // A remote record never replaces a local one.
  ASSERT_TRUE(t.putLocal(set("e4", "", "10.0.0.7", {"mine"})).ok());
  EXPECT_EQ(t.putRemote(set("e4", "hostC", "10.0.0.7", {"stolen"})).code(), EPERM);
  EXPECT_TRUE(t.lookup(kNet, "mine"));
  EXPECT_FALSE(t.lookup(kNet, "stolen"));
}

TEST(NameTable, AServiceNameRotatesOverItsReplicas) {
  NameTable t;
  ASSERT_TRUE(t.putLocal(set("e1", "", "10.0.0.2", {"web"})).ok());
  ASSERT_TRUE(t.putRemote(set("e2", "hostB", "10.0.0.3", {"web"})).ok());
  t.endpointSeen(kNet, "e2", "hostB", ip("10.0.0.3"), std::nullopt, true);
  ASSERT_TRUE(t.putRemote(set("e3", "hostB", "10.0.0.4", {"web"})).ok());
  t.endpointSeen(kNet, "e3", "hostB", ip("10.0.0.4"), std::nullopt, true);
  std::set<IpAddr> firsts;
  for (int i = 0; i < 3; ++i) {
    auto a = t.lookup(kNet, "web");
    ASSERT_TRUE(a);
    ASSERT_EQ(a->size(), 3u);
    firsts.insert(a->front());
  }
  EXPECT_EQ(firsts.size(), 3u);  // each replica first once in three lookups
  t.remove(kNet, "e1");
  EXPECT_EQ(t.lookup(kNet, "web")->size(), 2u);
}

TEST(NameTable, AnAaaaLookupBetweenALookupsDoesNotMoveTheARoundRobin) {
  // A stub resolver asks A and AAAA for each name: with two replicas, a
  // turn shared by both would put the same replica first every time.
  NameTable t;
  ASSERT_TRUE(t.putLocal(set("e1", "", "10.0.0.2", {"web"})).ok());
  ASSERT_TRUE(t.putRemote(set("e2", "hostB", "10.0.0.3", {"web"})).ok());
  t.endpointSeen(kNet, "e2", "hostB", ip("10.0.0.3"), std::nullopt, true);
  std::set<IpAddr> firsts;
  for (int i = 0; i < 2; ++i) {
    auto a = t.lookup(kNet, "web", NameTable::Turn::kV4);
    ASSERT_TRUE(a);
    firsts.insert(a->front());
    ASSERT_TRUE(t.lookup(kNet, "web", NameTable::Turn::kV6));
    ASSERT_TRUE(t.lookup(kNet, "web", NameTable::Turn::kNone));
  }
  EXPECT_EQ(firsts.size(), 2u);
}

TEST(NameTable, ResyncForgetsRemoteNamesOnly) {
  NameTable t;
  ASSERT_TRUE(t.putLocal(set("e1", "", "10.0.0.2", {"a"})).ok());
  ASSERT_TRUE(t.putRemote(set("e2", "hostB", "10.0.0.3", {"b"})).ok());
  t.endpointSeen(kNet, "e2", "hostB", ip("10.0.0.3"), std::nullopt, true);
  t.clearRemote();
  EXPECT_TRUE(t.lookup(kNet, "a"));
  EXPECT_FALSE(t.lookup(kNet, "b"));
  EXPECT_EQ(t.size(), 1u);
}

TEST(NameTable, BadNameSetsAreRefusedAndChangeNothing) {
  NameTable t;
  EXPECT_EQ(t.putLocal(set("e1", "", "10.0.0.2", {"bad name"})).code(), EINVAL);
  EXPECT_EQ(t.putLocal(set("e1", "", "10.0.0.2", {std::string(64, 'a')})).code(), EINVAL);  // label > 63
  EXPECT_EQ(t.putLocal(set("e1", "", "10.0.0.2", {"a..b"})).code(), EINVAL);
  std::vector<std::string> many;
  for (size_t i = 0; i <= kMaxNamesPerEndpoint; ++i) many.push_back("n" + std::to_string(i));
  EXPECT_EQ(t.putLocal(set("e1", "", "10.0.0.2", many)).code(), EINVAL);
  NameSet noAddr{kNet, "e1", "", std::nullopt, std::nullopt, {"a"}};
  EXPECT_EQ(t.putLocal(noAddr).code(), EINVAL);
  EXPECT_EQ(t.putRemote(set("e1", "", "10.0.0.2", {"a"})).code(), EINVAL);  // remote without owner
  EXPECT_EQ(t.size(), 0u);
}

TEST(NameTable, HoldsAtMostMaxNameSets) {
  NameTable t;
  for (size_t i = 0; i < kMaxNameSets; ++i)
    ASSERT_TRUE(t.putLocal(set("e" + std::to_string(i), "", "10.0.0.2", {"n"})).ok());
  EXPECT_EQ(t.putLocal(set("one-more", "", "10.0.0.2", {"n"})).code(), ENOSPC);
  EXPECT_TRUE(t.putLocal(set("e0", "", "10.0.0.3", {"m"})).ok());  // replacing is fine
  EXPECT_EQ(t.size(), kMaxNameSets);
}
