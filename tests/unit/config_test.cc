#include "plugin/config.h"

#include <gtest/gtest.h>

#include "driver/network_options.h"

using namespace weft;

TEST(NetworkOptions, AcceptsKnownOptions) {
  auto o = driver::parseNetworkOptions(
      {{"mtu", "9000"}, {"encrypted", ""}, {"vni", "42"}, {"weft.name", "blue-1"}});
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(*o->mtu, 9000u);
  EXPECT_TRUE(o->encrypted);
  EXPECT_EQ(*o->vni, 42u);
  EXPECT_EQ(o->name, "blue-1");
  EXPECT_EQ(o->raw.size(), 4u);
  EXPECT_FALSE(o->gwbridge);  // not given: the default, docker_gwbridge
  EXPECT_TRUE(o->wantsGwbridge());
}

TEST(NetworkOptions, GwbridgeIsABooleanThatDefaultsToOn) {
  for (const char* v : {"false", "0", "no"}) {
    auto o = driver::parseNetworkOptions({{"weft.gwbridge", v}});
    ASSERT_TRUE(o.ok()) << v << ": " << o.error().message;
    EXPECT_EQ(o->gwbridge, false) << v;
    EXPECT_FALSE(o->wantsGwbridge()) << v;
    EXPECT_EQ(o->raw.at("weft.gwbridge"), v);  // echoed as given (AllocateNetwork)
  }
  for (const char* v : {"", "true", "1", "yes"}) {
    auto o = driver::parseNetworkOptions({{"weft.gwbridge", v}});
    ASSERT_TRUE(o.ok()) << v << ": " << o.error().message;
    EXPECT_EQ(o->gwbridge, true) << v;
    EXPECT_TRUE(o->wantsGwbridge()) << v;
  }
}

TEST(NetworkOptions, RefusesUnknownAndMalformedNamingTheOption) {
  struct Case {
    std::map<std::string, std::string> in;
    std::string mention;
  };
  std::vector<Case> cases = {
      {{{"colour", "red"}}, "colour"},
      {{{"mtu", "abc"}}, "mtu"},
      {{{"mtu", "100"}}, "mtu"},
      {{{"mtu", "70000"}}, "mtu"},
      {{{"vni", "0"}}, "vni"},
      {{{"vni", "4096"}}, "4096"},
      {{{"encrypted", "maybe"}}, "encrypted"},
      {{{"weft.gwbridge", "off"}}, "weft.gwbridge=\"off\""},
      {{{"weft.gwbridge", "False"}}, "weft.gwbridge"},
      {{{"gwbridge", "false"}}, "unknown option \"gwbridge\""},
      {{{"weft.name", "has space"}}, "weft.name"},
      {{{"weft.name", ""}}, "weft.name"},
      {{{"mtu", "1400"}, {"com.docker.network.driver.mtu", "1300"}}, "disagree"},
  };
  for (const auto& c : cases) {
    auto o = driver::parseNetworkOptions(c.in);
    ASSERT_FALSE(o.ok()) << c.mention;
    EXPECT_NE(o.error().message.find(c.mention), std::string::npos) << o.error().message;
  }
}

static Result<plugin::Config> parse(std::vector<const char*> args, std::vector<std::string> env = {}) {
  args.insert(args.begin(), "weft-plugin");
  return plugin::parseConfig(static_cast<int>(args.size()), args.data(), env);
}

TEST(Config, DefaultsMatchTheDesign) {
  auto c = parse({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->socket, "/run/docker/plugins/weft.sock");
  EXPECT_EQ(c->stateDir, "/var/lib/weft");
  EXPECT_EQ(c->gossipPort, 7947);
  EXPECT_EQ(c->vxlanPort, 4789);
  EXPECT_EQ(c->scope, "local");
  EXPECT_FALSE(c->fakeKernel);
  EXPECT_EQ(c->netnsKeepDir, "");  // legacy mode: nobody unmounts STATE_DIR
  // weft-gossip's own ids, not nobody's (issue 10 finding 9).
  EXPECT_EQ(c->sidecarUid, 65533u);
  EXPECT_EQ(c->sidecarGid, 65533u);
  EXPECT_EQ(c->sidecarDeadline, 10u);
  EXPECT_EQ(c->reconcileInterval, 5u);
}

TEST(Config, SidecarUserIsUidUidGidOrAName) {
  auto c = parse({"--sidecar-user=4242"});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->sidecarUid, 4242u);
  EXPECT_EQ(c->sidecarGid, 4242u);
  c = parse({}, {"WEFT_SIDECAR_USER=4242:4343"});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->sidecarUid, 4242u);
  EXPECT_EQ(c->sidecarGid, 4343u);
  c = parse({"--sidecar-user=nobody"});  // every Debian system has it
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->sidecarUid, 65534u);
  for (const char* bad :
       {"0", "0:5", "5:0", "4294967295", "12x", "5:", "-1", "no-such-user-here", "root", ""}) {
    auto r = parse({"--sidecar-user", bad});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("SIDECAR_USER"), std::string::npos) << r.error().message;
  }
}

TEST(Config, EveryDesignSettingIsAFlagAndAnEnvironmentVariable) {
  std::vector<std::pair<std::string, std::string>> vals = {{"SCOPE", "global"},
                                                           {"ADVERTISE_ADDR", "198.18.0.1"},
                                                           {"PEERS", "198.18.0.2,198.18.0.3"},
                                                           {"GOSSIP_PORT", "8000"},
                                                           {"VXLAN_PORT", "4790"},
                                                           {"KEY", "k"},
                                                           {"KEY_FILE", "/k"},
                                                           {"MTU", "1400"},
                                                           {"LOG_LEVEL", "debug"},
                                                           {"STATE_DIR", "/s"},
                                                           {"SOCKET", "/x.sock"},
                                                           {"NETNS_KEEP_DIR", "/run/keep"},
                                                           {"SIDECAR_USER", "7:8"},
                                                           {"SIDECAR_DEADLINE", "30"},
                                                           {"RECONCILE_INTERVAL", "0"},
                                                           {"IPAM_RECLAIM_GRACE", "30"}};
  std::vector<std::string> env;
  for (auto& [k, v] : vals) env.push_back("WEFT_" + k + "=" + v);
  auto viaEnv = parse({}, env);
  ASSERT_TRUE(viaEnv.ok()) << viaEnv.error().message;
  std::vector<std::string> storage;
  for (auto& [k, v] : vals) {
    std::string flag = "--";
    for (char ch : k) flag += ch == '_' ? '-' : static_cast<char>(std::tolower(ch));
    storage.push_back(flag + "=" + v);
  }
  std::vector<const char*> args;
  for (auto& s : storage) args.push_back(s.c_str());
  auto viaFlags = parse(args);
  ASSERT_TRUE(viaFlags.ok()) << viaFlags.error().message;
  for (const auto* c : {&*viaEnv, &*viaFlags}) {
    EXPECT_EQ(c->scope, "global");
    EXPECT_EQ(c->advertiseAddr, "198.18.0.1");
    EXPECT_EQ(c->peers, (std::vector<std::string>{"198.18.0.2", "198.18.0.3"}));
    EXPECT_EQ(c->gossipPort, 8000);
    EXPECT_EQ(c->vxlanPort, 4790);
    EXPECT_EQ(c->key, "k");
    EXPECT_EQ(c->keyFile, "/k");
    EXPECT_EQ(c->mtu, 1400u);
    EXPECT_EQ(c->logLevel, "debug");
    EXPECT_EQ(c->stateDir, "/s");
    EXPECT_EQ(c->socket, "/x.sock");
    EXPECT_EQ(c->netnsKeepDir, "/run/keep");
    EXPECT_EQ(c->sidecarUid, 7u);
    EXPECT_EQ(c->ipamReclaimGrace, 30u);
    EXPECT_EQ(c->sidecarGid, 8u);
    EXPECT_EQ(c->sidecarDeadline, 30u);
    EXPECT_EQ(c->reconcileInterval, 0u);
  }
}

TEST(Config, FlagsWinOverEnvironment) {
  auto c = parse({"--socket", "/flag.sock", "--fake-kernel"}, {"WEFT_SOCKET=/env.sock"});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->socket, "/flag.sock");
  EXPECT_TRUE(c->fakeKernel);
}

// One underlay family per cluster (README "IPv6 underlay"): an IPv6 host
// takes IPv6 peers, and a peer of the other family is refused by name.
TEST(Config, Ipv6AdvertiseAddressTakesIpv6PeersOnly) {
  auto c = parse({"--advertise-addr=fd18::1", "--peers=fd18::2, fd18::3"});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->advertiseAddr, "fd18::1");
  EXPECT_EQ(c->peers, (std::vector<std::string>{"fd18::2", "fd18::3"}));
  auto mixed = parse({"--advertise-addr=fd18::1", "--peers=fd18::2,198.18.0.3"});
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.error().message.find("\"198.18.0.3\" is an IPv4 address"), std::string::npos)
      << mixed.error().message;
  EXPECT_NE(mixed.error().message.find("ADVERTISE_ADDR \"fd18::1\" is IPv6"), std::string::npos);
  auto mixed4 = parse({"--peers=fd18::2"}, {"WEFT_ADVERTISE_ADDR=198.18.0.1"});
  ASSERT_FALSE(mixed4.ok());
  EXPECT_NE(mixed4.error().message.find("\"fd18::2\" is an IPv6 address"), std::string::npos);
  // Without ADVERTISE_ADDR (single host) the peers are not used: no family to match.
  EXPECT_TRUE(parse({"--peers=fd18::2,198.18.0.3"}).ok());
}

TEST(Config, BadValuesAreClearErrors) {
  EXPECT_NE(parse({"--scope=swarm"}).error().message.find("SCOPE"), std::string::npos);
  EXPECT_NE(parse({"--gossip-port=0"}).error().message.find("out of range"), std::string::npos);
  EXPECT_NE(parse({"--advertise-addr=host"}).error().message.find("not an IP"), std::string::npos);
  EXPECT_NE(parse({"--peers=1.2.3.4,x"}).error().message.find("\"x\""), std::string::npos);
  EXPECT_NE(parse({"--bogus=1"}).error().message.find("unknown flag"), std::string::npos);
  EXPECT_NE(parse({"--socket"}).error().message.find("needs a value"), std::string::npos);
  EXPECT_NE(parse({"--state-dir=relative"}).error().message.find("absolute"), std::string::npos);
  EXPECT_NE(parse({"--netns-keep-dir=run/x"}).error().message.find("NETNS_KEEP_DIR"), std::string::npos);
  EXPECT_NE(parse({}, {"WEFT_LOG_LEVEL=loud"}).error().message.find("WEFT_LOG_LEVEL"), std::string::npos);
  EXPECT_NE(parse({"--sidecar-deadline=0"}).error().message.find("out of range"), std::string::npos);
  EXPECT_NE(parse({"--sidecar-deadline=3601"}).error().message.find("out of range"), std::string::npos);
  EXPECT_NE(parse({"--reconcile-interval=3601"}).error().message.find("out of range"), std::string::npos);
  EXPECT_NE(parse({"--reconcile-interval=-1"}).error().message.find("RECONCILE_INTERVAL"), std::string::npos);
  // A grace below the lower bound would reclaim the blocks of a host that is only slow to answer.
  EXPECT_NE(
      parse({"--ipam-reclaim-grace=9"}).error().message.find("IPAM_RECLAIM_GRACE=9 is out of range (10-"),
      std::string::npos);
  EXPECT_NE(parse({"--ipam-reclaim-grace=604801"}).error().message.find("out of range"), std::string::npos);
  EXPECT_EQ(parse({"--ipam-reclaim-grace=10"})->ipamReclaimGrace, 10u);
  EXPECT_EQ(parse({})->ipamReclaimGrace, 600u);
  EXPECT_FALSE(parse({"positional"}).ok());
}

// A key on the command line is overwritten in argv, which is what
// /proc/<pid>/cmdline shows (issue 10 finding 8); other flags are untouched.
TEST(Config, KeyFlagsAreScrubbedFromArgv) {
  std::vector<std::string> args = {"weft-plugin",     "--key",       "secret-one",
                                   "--key-file",      "/etc/weft/k", "--KEY=secret-two",
                                   "--socket=/s.sock"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  auto c = plugin::parseConfig(static_cast<int>(argv.size()), argv.data(), {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->key, "secret-two");
  EXPECT_TRUE(plugin::scrubSecretArgs(static_cast<int>(argv.size()), argv.data()));
  EXPECT_STREQ(argv[2], "xxxxxxxxxx");
  EXPECT_STREQ(argv[4], "/etc/weft/k");
  EXPECT_STREQ(argv[5], "--KEY=xxxxxxxxxx");
  EXPECT_STREQ(argv[6], "--socket=/s.sock");
  EXPECT_EQ(c->key, "secret-two");  // parsed before: the value is kept
  std::vector<std::string> plain = {"weft-plugin", "--key-file", "/k", "--socket", "--key"};
  std::vector<char*> pargv;
  for (auto& a : plain) pargv.push_back(a.data());
  EXPECT_FALSE(plugin::scrubSecretArgs(3, pargv.data()));
  EXPECT_STREQ(pargv[2], "/k");
}

TEST(Config, HealthVniIsAWeftVniOrZeroForOff) {
  EXPECT_EQ(parse({})->healthVni, 4095u);
  EXPECT_EQ(parse({"--health-vni=0"})->healthVni, 0u);
  EXPECT_EQ(parse({}, {"WEFT_HEALTH_VNI=4000"})->healthVni, 4000u);
  auto high = parse({"--health-vni", "4096"});  // Docker's overlay's VNIs
  ASSERT_FALSE(high.ok());
  EXPECT_NE(high.error().message.find("out of range (0-4095)"), std::string::npos) << high.error().message;
  EXPECT_FALSE(parse({"--health-vni", "x"}).ok());
}

TEST(Config, EspPortIsAPortOfItsOwn) {
  auto c = parse({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->espPort, 4791);
  c = parse({"--esp-port=5000"});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->espPort, 5000);
  c = parse({}, {"WEFT_ESP_PORT=5001"});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->espPort, 5001);
  for (const char* bad : {"0", "65536", "x", ""}) EXPECT_FALSE(parse({"--esp-port", bad}).ok()) << bad;
  // Equal to another of weft's ports: refused, naming both.
  for (auto [args, other] : std::vector<std::pair<std::vector<const char*>, std::string>>{
           {{"--esp-port=4789"}, "VXLAN_PORT"},
           {{"--esp-port=4790"}, "ENCRYPTED_PORT"},
           {{"--esp-port=7947"}, "GOSSIP_PORT"},
           {{"--vxlan-port=4791"}, "VXLAN_PORT"},
           {{"--gossip-port=9000", "--esp-port=9000"}, "GOSSIP_PORT"}}) {
    auto r = parse(args);
    ASSERT_FALSE(r.ok()) << other;
    EXPECT_NE(r.error().message.find("ESP_PORT"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(other), std::string::npos) << r.error().message;
  }
}
