// weftctl check's verdicts and words, on plugin answers as JSON: each check
// fails (exit 1) with its explanation and advice, and passes when its cause
// is gone.
#include <gtest/gtest.h>

#include "weftctl/check.h"

namespace weft::weftctl {
namespace {

using Json = nlohmann::json;

Json healthyStatus() {
  return {{"advertiseAddr", "198.18.0.1"},
          {"swarmAddress", ""},
          {"discoveredNodes", Json::array()},
          {"problems", Json::array()},
          {"notices", Json::array()}};
}
Json healthyPeers() {
  return {
      {"gossip",
       {{"running", true},
        {"id", "198.18.0.1"},
        {"members", {{{"id", "198.18.0.1"}, {"state", "alive"}}, {{"id", "198.18.0.2"}, {"state", "alive"}}}},
        {"authFailuresByHost", Json::object()},
        {"refusedBy", Json::object()},
        {"authProblem", ""}}}};
}
Json ipamWithConflicts(Json conflicts) {
  return {
      {"enabled", true},
      {"pools", {{{"pool", "10.30.0.0/16"}, {"held", Json::array()}, {"conflicts", std::move(conflicts)}}}}};
}

TEST(WeftctlCheck, HealthyClusterPassesWithExitZero) {
  auto out = runCheck({healthyStatus(), healthyPeers(), ipamWithConflicts(Json::array())});
  EXPECT_EQ(out.exitCode, 0);
  EXPECT_EQ(out.text, "ok: no problems found on this host\n");
  EXPECT_TRUE(out.json["ok"].get<bool>());
  EXPECT_TRUE(out.json["problems"].empty());
}

TEST(WeftctlCheck, StatusProblemsKeepTheirWordsAndAdvice) {
  Json st = healthyStatus();
  st["problems"] = {
      {{"kind", "network"}, {"network", "0123456789abcdef"}, {"message", "VNI 7 is taken"}},
      {{"kind", "dataplane"}, {"peer", "198.18.0.2"}, {"message", "VXLAN to 198.18.0.2:4789 fails"}}};
  auto out = runCheck({st, nullptr, nullptr});
  EXPECT_EQ(out.exitCode, 1);
  EXPECT_NE(
      out.text.find("PROBLEM network 0123456789ab: VNI 7 is taken\n  weft serves the host's other networks"),
      std::string::npos)
      << out.text;
  EXPECT_NE(
      out.text.find("PROBLEM data plane: VXLAN to 198.18.0.2:4789 fails\n  (found by weft's VXLAN probes"),
      std::string::npos)
      << out.text;
  EXPECT_FALSE(out.json["ok"].get<bool>());
  EXPECT_EQ(out.json["problems"].size(), 2u);
}

TEST(WeftctlCheck, NoticesAloneDoNotFail) {
  Json st = healthyStatus();
  st["notices"] = {
      {{"kind", "sidecar"}, {"restarts", 2}, {"message", "weft-gossip was restarted 2 time(s)"}}};
  auto out = runCheck({st, healthyPeers(), nullptr});
  EXPECT_EQ(out.exitCode, 0);
  EXPECT_NE(
      out.text.find("NOTE weft-gossip was restarted 2 time(s)\n  the plugin's log (component supervisor)"),
      std::string::npos)
      << out.text;
  EXPECT_EQ(out.json["notices"].size(), 1u);
}

TEST(WeftctlCheck, GossipFromAHostWithAnotherKeyFailsNamingTheHost) {
  Json p = healthyPeers();
  p["gossip"]["authFailuresByHost"] = {{"198.18.0.3", 42}};
  auto out = runCheck({healthyStatus(), p, nullptr});
  EXPECT_EQ(out.exitCode, 1);
  EXPECT_NE(
      out.text.find("PROBLEM cluster key: host 198.18.0.3 sends gossip this host cannot authenticate (42 "
                    "packet(s) or connection(s) in the last 10 min): it has a different cluster KEY"),
      std::string::npos)
      << out.text;
  EXPECT_NE(out.text.find("every host of a cluster needs the same key"), std::string::npos);
  EXPECT_EQ(out.json["problems"][0]["kind"], "key");
  EXPECT_EQ(out.json["problems"][0]["peer"], "198.18.0.3");
  p["gossip"]["authFailuresByHost"] = Json::object();  // expired 10 min after the last failure
  EXPECT_EQ(runCheck({healthyStatus(), p, nullptr}).exitCode, 0);
  // Restarted with the right key, the host is an alive member again: its
  // failures from before do not fail the check while they age out.
  p["gossip"]["members"].push_back({{"id", "198.18.0.3"}, {"state", "alive"}});
  p["gossip"]["authFailuresByHost"] = {{"198.18.0.3", 42}};
  p["gossip"]["refusedBy"] = {{"198.18.0.3:7946", 1}};
  EXPECT_EQ(runCheck({healthyStatus(), p, nullptr}).exitCode, 0);
}

TEST(WeftctlCheck, RefusedStreamsAndTheSidecarsVerdictAreKeyProblems) {
  Json p = healthyPeers();
  p["gossip"]["refusedBy"] = {{"198.18.0.7:7947", 3}};
  p["gossip"]["authProblem"] = "no other host accepts this host's key";
  auto out = runCheck({healthyStatus(), p, nullptr});
  EXPECT_EQ(out.exitCode, 1);
  EXPECT_NE(out.text.find("host 198.18.0.7:7947 refused this host's gossip connections 3 time(s): it has a "
                          "different cluster KEY"),
            std::string::npos)
      << out.text;
  EXPECT_NE(out.text.find("PROBLEM cluster key: no other host accepts this host's key"), std::string::npos);
  EXPECT_EQ(out.json["problems"].size(), 2u);
}

TEST(WeftctlCheck, SuspectOrDeadMembersFailButLeftOnesDoNot) {
  Json p = healthyPeers();
  p["gossip"]["members"].push_back({{"id", "198.18.0.4"}, {"state", "dead"}});
  p["gossip"]["members"].push_back({{"id", "198.18.0.5"}, {"state", "left"}});
  auto out = runCheck({healthyStatus(), p, nullptr});
  EXPECT_EQ(out.exitCode, 1);
  EXPECT_NE(out.text.find("PROBLEM gossip: gossip does not reach host 198.18.0.4 (member dead)"),
            std::string::npos)
      << out.text;
  EXPECT_EQ(out.text.find("198.18.0.5"), std::string::npos) << out.text;
  EXPECT_EQ(out.json["problems"].size(), 1u);
}

TEST(WeftctlCheck, SidecarDownFailsOnlyWhenMultiHostIsOnAndItIsNotStarting) {
  Json p = {{"gossip", {{"running", false}, {"reason", "weft-gossip is not running (restarts so far: 4)"}}}};
  Json st = healthyStatus();
  st["notices"] = {
      {{"kind", "sidecar"}, {"restarts", 4}, {"message", "weft-gossip was restarted 4 time(s)"}}};
  auto out = runCheck({st, p, nullptr});
  EXPECT_EQ(out.exitCode, 1);
  EXPECT_NE(
      out.text.find("the gossip sidecar does not answer: weft-gossip is not running (restarts so far: 4)"),
      std::string::npos)
      << out.text;
  Json single = healthyStatus();
  single["advertiseAddr"] = "";
  Json off = {{"gossip", {{"running", false}, {"reason", "multi-host is off: set ADVERTISE_ADDR"}}}};
  EXPECT_EQ(runCheck({single, off, nullptr}).exitCode, 0);
  // Just started, never restarted: the sidecar is joining -- a note.
  Json starting = {
      {"gossip", {{"running", false}, {"reason", "weft-gossip is not running (restarts so far: 0)"}}}};
  out = runCheck({healthyStatus(), starting, nullptr});
  EXPECT_EQ(out.exitCode, 0) << out.text;
  EXPECT_NE(
      out.text.find("NOTE the gossip sidecar is starting (weft-gossip is not running (restarts so far: 0))"),
      std::string::npos)
      << out.text;
  // A sidecar that hangs is a problem even without a restart yet.
  Json hung = {{"gossip", {{"running", false}, {"reason", "weft-gossip did not answer"}}}};
  EXPECT_EQ(runCheck({healthyStatus(), hung, nullptr}).exitCode, 1);
}

TEST(WeftctlCheck, SwarmNodeWithoutWeftFailsOnlyInASwarm) {
  Json st = healthyStatus();
  st["discoveredNodes"] = {"198.18.0.2", "198.18.0.9"};
  // Not in a swarm (no address from swarm): discovered nodes are not checked.
  EXPECT_EQ(runCheck({st, healthyPeers(), nullptr}).exitCode, 0);
  st["swarmAddress"] = "198.18.0.1";
  auto out = runCheck({st, healthyPeers(), nullptr});
  EXPECT_EQ(out.exitCode, 1);
  EXPECT_NE(out.text.find("PROBLEM swarm: swarm node 198.18.0.9 is not in weft's gossip: weft is not running "
                          "there"),
            std::string::npos)
      << out.text;
  EXPECT_EQ(out.text.find("swarm node 198.18.0.2"), std::string::npos) << "198.18.0.2 is a member";
  EXPECT_NE(out.text.find("install and enable weft on that node"), std::string::npos);
  EXPECT_EQ(out.json["problems"].size(), 1u);
}

TEST(WeftctlCheck, IpamConflictsFailNamingPoolBlockAndHost) {
  auto out =
      runCheck({healthyStatus(), healthyPeers(),
                ipamWithConflicts({{{"block", "10.30.1.0/24"}, {"other", "198.18.0.2"}, {"weWin", false}}})});
  EXPECT_EQ(out.exitCode, 1);
  EXPECT_NE(out.text.find("PROBLEM ipam: pool 10.30.0.0/16: block 10.30.1.0/24 is also handed out by host "
                          "198.18.0.2 (this host hands out no more from it)"),
            std::string::npos)
      << out.text;
  EXPECT_NE(out.text.find("`weftctl ipam` shows the owners"), std::string::npos);
  EXPECT_EQ(out.json["problems"][0]["block"], "10.30.1.0/24");
  // Cluster-wide IPAM off: nothing to look at.
  Json off = ipamWithConflicts({{{"block", "10.30.1.0/24"}, {"other", "198.18.0.2"}, {"weWin", true}}});
  off["enabled"] = false;
  EXPECT_EQ(runCheck({healthyStatus(), healthyPeers(), off}).exitCode, 0);
}

// Hosts of one network with different MTUs (the plugin's /weft.Status finds
// them from the other hosts' MTU records; network_mtus_test.cc has the
// words it writes): a problem with the MTU advice; a host whose MTU is
// unknown (an older weft) is a notice only.
TEST(WeftctlCheck, AnMtuMismatchFailsWithItsAdviceAndAnUnknownMtuIsANotice) {
  Json st = healthyStatus();
  st["problems"] = {{{"kind", "mtu"},
                     {"network", "0123456789abcdef"},
                     {"identity", "subnet:10.71.0.0/24"},
                     {"peer", "198.18.0.2"},
                     {"mtu", 1450},
                     {"peerMtu", 1400},
                     {"message",
                      "network 0123456789ab (subnet:10.71.0.0/24) has MTU 1450 on this host "
                      "(198.18.0.1) but 1400 on host 198.18.0.2"}}};
  auto out = runCheck({st, healthyPeers(), nullptr});
  EXPECT_EQ(out.exitCode, 1);
  EXPECT_NE(
      out.text.find("PROBLEM MTU mismatch: network 0123456789ab (subnet:10.71.0.0/24) has MTU 1450 on "
                    "this host (198.18.0.1) but 1400 on host 198.18.0.2\n  every host of a network needs "
                    "the same MTU"),
      std::string::npos)
      << out.text;
  EXPECT_NE(out.text.find("docker network rm it and create it again with -o mtu=N, the same N on every host"),
            std::string::npos)
      << out.text;
  EXPECT_EQ(out.json["problems"][0]["peerMtu"], 1400);
  Json older = healthyStatus();
  older["notices"] = {{{"kind", "mtu-unknown"},
                       {"network", "0123456789abcdef"},
                       {"message",
                        "network 0123456789ab (subnet:10.71.0.0/24): MTU unknown on host(s) "
                        "198.18.0.3"}}};
  auto ok = runCheck({older, healthyPeers(), nullptr});
  EXPECT_EQ(ok.exitCode, 0);
  EXPECT_NE(
      ok.text.find("NOTE network 0123456789ab (subnet:10.71.0.0/24): MTU unknown on host(s) 198.18.0.3"),
      std::string::npos)
      << ok.text;
}

TEST(WeftctlCheck, UnreadableAnswersSkipTheirChecks) {
  // An older plugin without /weft.Peers or /weft.Ipam: only /weft.Status counts.
  auto out = runCheck({healthyStatus(), nullptr, nullptr});
  EXPECT_EQ(out.exitCode, 0);
  Json garbage = "not an object";
  EXPECT_EQ(runCheck({healthyStatus(), garbage, garbage}).exitCode, 0);
}

}  // namespace
}  // namespace weft::weftctl
