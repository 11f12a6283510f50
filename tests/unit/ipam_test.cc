#include "driver/ipam.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
using namespace weft;
using namespace weft::driver;

TEST(Ipam, NeverHandsOutAnAddressTwice) {
  Ipam ipam;
  auto g = ipam.requestPool("", "10.9.0.0/28", "", {}, false);
  ASSERT_TRUE(g.ok()) << g.error().message;
  std::set<std::string> seen;
  for (int i = 0; i < 14; ++i) {  // /28: 14 usable
    auto a = ipam.requestAddress(g->poolId, "", {});
    ASSERT_TRUE(a.ok()) << a.error().message;
    EXPECT_TRUE(seen.insert(*a).second) << *a;
  }
  EXPECT_FALSE(seen.count("10.9.0.0/28"));
  EXPECT_FALSE(seen.count("10.9.0.15/28"));
  auto full = ipam.requestAddress(g->poolId, "", {});
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.code(), ENOSPC);
  EXPECT_TRUE(ipam.releaseAddress(g->poolId, "10.9.0.5").ok());
  auto again = ipam.requestAddress(g->poolId, "", {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, "10.9.0.5/28");
}

TEST(Ipam, HonoursRequestedAddressesAndRefusesTakenOnes) {
  Ipam ipam;
  auto g = ipam.requestPool("", "10.9.0.0/24", "", {}, false);
  ASSERT_TRUE(g.ok());
  auto a = ipam.requestAddress(g->poolId, "10.9.0.77", {});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "10.9.0.77/24");
  auto dup = ipam.requestAddress(g->poolId, "10.9.0.77", {});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.code(), EEXIST);
  auto out = ipam.requestAddress(g->poolId, "10.8.0.1", {});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().message.find("outside pool"), std::string::npos);
  auto bad = ipam.requestAddress(g->poolId, "ten", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), EINVAL);
}

TEST(Ipam, GatewayRequestTakesTheFirstAddressOrTheRequestedOne) {
  Ipam ipam;
  auto g = ipam.requestPool("", "10.9.0.0/24", "10.9.0.128/25", {}, false);
  ASSERT_TRUE(g.ok());
  std::map<std::string, std::string> gw = {{"RequestAddressType", kGatewayRequestType}};
  auto a = ipam.requestAddress(g->poolId, "", gw);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "10.9.0.1/24");  // gateway comes from the pool, not the sub-pool
  auto d = ipam.requestAddress(g->poolId, "", {});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, "10.9.0.129/24");  // dynamic ones from --ip-range
  Ipam ipam2;
  auto g2 = ipam2.requestPool("", "10.9.0.0/24", "", {}, false);
  auto b = ipam2.requestAddress(g2->poolId, "10.9.0.254", gw);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, "10.9.0.254/24");
  auto bogus = ipam2.requestAddress(g2->poolId, "", {{"RequestAddressType", "nope"}});
  EXPECT_FALSE(bogus.ok());
}

TEST(Ipam, PoolValidation) {
  Ipam ipam;
  EXPECT_EQ(ipam.requestPool("", "10.9.0.1/24", "", {}, false).code(), EINVAL);  // host bits
  EXPECT_EQ(ipam.requestPool("", "10.9.0.0/24", "", {}, true).code(), EINVAL);   // family
  EXPECT_EQ(ipam.requestPool("", "bogus", "", {}, false).code(), EINVAL);
  EXPECT_EQ(ipam.requestPool("", "10.9.0.0/24", "10.8.0.0/25", {}, false).code(), EINVAL);
  EXPECT_EQ(ipam.requestPool("", "", "10.8.0.0/25", {}, false).code(), EINVAL);
  EXPECT_EQ(ipam.requestPool("space?", "10.9.0.0/24", "", {}, false).code(), EINVAL);
  EXPECT_EQ(ipam.requestPool("", "10.9.0.1/32", "", {}, false).code(), EINVAL);
  EXPECT_TRUE(ipam.pools().empty());
  EXPECT_EQ(ipam.releasePool("nope").code(), ENOENT);
  EXPECT_EQ(ipam.requestAddress("nope", "", {}).code(), ENOENT);
}

TEST(Ipam, SameSubnetTwiceGetsTwoPoolsAndDefaultPoolsDoNotOverlap) {
  Ipam ipam;
  auto a = ipam.requestPool("", "10.9.0.0/24", "", {}, false);
  auto b = ipam.requestPool("", "10.9.0.0/24", "", {}, false);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->poolId, b->poolId);
  auto d1 = ipam.requestPool("", "", "", {}, false);
  auto d2 = ipam.requestPool("", "", "", {}, false);
  ASSERT_TRUE(d1.ok() && d2.ok());
  EXPECT_NE(d1->pool, d2->pool);
  EXPECT_FALSE(Prefix::parse(d1->pool)->overlaps(*Prefix::parse(d2->pool)));
  auto v6 = ipam.requestPool("", "", "", {}, true);
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(Prefix::parse(v6->pool)->addr.isV6());
  auto a6 = ipam.requestAddress(v6->poolId, "", {});
  ASSERT_TRUE(a6.ok());
  EXPECT_NE(a6->find("::1/64"), std::string::npos) << *a6;
}

TEST(Ipam, RoundTripsThroughJson) {
  Ipam ipam;
  auto g = ipam.requestPool("", "10.9.0.0/24", "10.9.0.0/25", {{"k", "v"}}, false);
  ipam.requestAddress(g->poolId, "", {{"RequestAddressType", kGatewayRequestType}});
  ipam.requestAddress(g->poolId, "", {});
  auto restored = Ipam::fromJson(ipam.toJson());
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(restored->toJson(), ipam.toJson());
  // The restored allocator keeps refusing what was taken.
  EXPECT_EQ(restored->requestAddress(g->poolId, "10.9.0.1", {}).code(), EEXIST);
  auto bad = ipam.toJson();
  bad["pools"][0]["allocated"][0] = "192.168.0.1";
  EXPECT_FALSE(Ipam::fromJson(bad).ok());
}

TEST(Ipam, APoolNamedWithoutASubnetIsTheSameOnEveryHost) {
  Ipam h1, h2;
  auto a = h1.requestPool("", "", "", {{kPoolNameOption, "app"}}, false);
  auto b = h2.requestPool("", "", "", {{kPoolNameOption, "app"}}, false);
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(a->pool, b->pool);
  auto p = Prefix::parse(a->pool);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->len, 24);
  EXPECT_TRUE(Prefix::parse("10.128.0.0/9")->contains(p->addr)) << a->pool;
  auto other = h1.requestPool("", "", "", {{kPoolNameOption, "web"}}, false);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->pool, a->pool);
  auto v6 = h1.requestPool("", "", "", {{kPoolNameOption, "app"}}, true);
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->pool.rfind("fd77:7765:6675:", 0), 0u) << v6->pool;
  EXPECT_TRUE(v6->pool.ends_with("::/64")) << v6->pool;
  auto bad = h1.requestPool("", "", "", {{kPoolNameOption, "a b"}}, false);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), EINVAL);
  EXPECT_FALSE(h1.requestPool("", "", "", {{kPoolNameOption, ""}}, false).ok());
  // A subnet, when given, wins over the name.
  auto sub = h1.requestPool("", "10.9.0.0/24", "", {{kPoolNameOption, "app"}}, false);
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(sub->pool, "10.9.0.0/24");
}
