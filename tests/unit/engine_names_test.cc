// A container's names as the engine tells them (engine/engine_client.h,
// parseContainerNames): the engine's answer is untrusted input.
#include <gtest/gtest.h>

#include "engine/engine_client.h"

using namespace weft;
using namespace weft::engine;

TEST(EngineNames, NameServiceLabelAndAliasesPerEndpoint) {
  const char* body = R"({"Id":"abc","Name":"/proj-web-1",
    "Config":{"Labels":{"com.docker.compose.service":"web","com.docker.compose.project":"proj"}},
    "NetworkSettings":{"Networks":{
      "app":{"NetworkID":"n1","EndpointID":"e1e1","Aliases":["web","3f2a1b"],"DNSNames":["proj-web-1"]},
      "other":{"NetworkID":"n2","EndpointID":"e2e2","Aliases":null},
      "stopped":{"NetworkID":"n3","EndpointID":""}}}})";
  auto c = parseContainerNames(body);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->name, "proj-web-1");
  EXPECT_EQ(c->service, "web");
  ASSERT_EQ(c->aliases.size(), 2u);
  EXPECT_EQ(c->aliases.at("e1e1"), (std::vector<std::string>{"web", "3f2a1b", "proj-web-1"}));
  EXPECT_TRUE(c->aliases.at("e2e2").empty());
}

TEST(EngineNames, MalformedAnswersAreErrorsOrIgnoredFields) {
  EXPECT_FALSE(parseContainerNames("").ok());
  EXPECT_FALSE(parseContainerNames("[1,2]").ok());
  EXPECT_FALSE(parseContainerNames("{\"Name\":").ok());
  EXPECT_FALSE(parseContainerNames(R"({"Name":"/x"})").ok());  // no NetworkSettings
  EXPECT_FALSE(parseContainerNames(R"({"NetworkSettings":{"Networks":[1]}})").ok());
  EXPECT_FALSE(parseContainerNames(R"({"NetworkSettings":{"Networks":{"a":7}}})").ok());
  std::string deep(100, '[');
  EXPECT_FALSE(parseContainerNames("{\"a\":" + deep + "}").ok());
  // Wrong types of single fields are left out, not trusted.
  auto c = parseContainerNames(
      R"({"Name":5,"Config":{"Labels":{"com.docker.compose.service":["x"]}},
          "NetworkSettings":{"Networks":{"a":{"EndpointID":"e1","Aliases":[1,{"x":1},"ok"]}}}})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name, "");
  EXPECT_EQ(c->service, "");
  EXPECT_EQ(c->aliases.at("e1"), std::vector<std::string>{"ok"});
}

TEST(EngineNames, AliasesPerEndpointAreBounded) {
  std::string aliases;
  for (size_t i = 0; i < kMaxAliases + 10; ++i)
    aliases += (i ? "," : "") + std::string("\"a") + std::to_string(i) + "\"";
  auto c = parseContainerNames(R"({"NetworkSettings":{"Networks":{"a":{"EndpointID":"e1","Aliases":[)" +
                               aliases + "]}}}}");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->aliases.at("e1").size(), kMaxAliases);
  std::string longName(kMaxEngineName + 1, 'a');
  c = parseContainerNames(R"({"Name":"/)" + longName + R"(","NetworkSettings":{}})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name, "");
}
