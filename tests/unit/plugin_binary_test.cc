// Drives the real weft-plugin binary (--fake-kernel) over its unix socket:
// a full create -> endpoint -> join -> leave -> delete cycle, and restore
// after a clean stop and after kill -9.
// (the HTTP server's limits: plugin_request_limits_test.cc)

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <string>

#include "tests/support/loopback.h"  // runCapture
#include "tests/unit/plugin_binary_fixture.h"

using namespace weft;
using namespace weft::test;

TEST_F(PluginBinary, FullCycleOverTheSocket) {
  startPlugin();
  auto act = call("/Plugin.Activate", Json::object());
  EXPECT_EQ(act["Implements"], Json::parse(R"(["NetworkDriver","IpamDriver"])"));
  auto pool = createNetwork();
  auto a1 = runContainer(pool, 1);
  auto a2 = runContainer(pool, 2);
  EXPECT_NE(a1, a2);
  auto info = call("/NetworkDriver.EndpointOperInfo", {{"NetworkID", kNid}, {"EndpointID", eid(1)}});
  EXPECT_EQ(info["Value"]["weft.joined"], true);
  auto busy = call("/NetworkDriver.DeleteNetwork", {{"NetworkID", kNid}});
  EXPECT_TRUE(busy.contains("Err"));
  stopContainer(pool, 1, a1);
  stopContainer(pool, 2, a2);
  ok("/NetworkDriver.DeleteNetwork", {{"NetworkID", kNid}});
  ok("/IpamDriver.ReleasePool", {{"PoolID", pool}});
  // Bad input over the wire: errors, and the daemon stays up.
  auto bad = client_->raw("POST /NetworkDriver.Join HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{{{{{");
  ASSERT_TRUE(bad.ok());
  EXPECT_NE(bad->body.find("not valid JSON"), std::string::npos);
  auto unknown = client_->post("/Nope.Nope", "{}");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 404);
  EXPECT_TRUE(Json::parse(unknown->body).contains("Err"));
  auto big = client_->post("/NetworkDriver.CreateNetwork", std::string((1 << 20) + 10, ' '));
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->status, 413);
  EXPECT_TRUE(Json::parse(big->body).contains("Err"));
  EXPECT_TRUE(proc_->running());
  EXPECT_TRUE(call("/Plugin.Activate", Json::object()).contains("Implements"));
}

TEST_F(PluginBinary, StateSurvivesCleanStopAndKill9) {
  startPlugin();
  auto pool = createNetwork();
  auto a1 = runContainer(pool, 1);
  auto a2 = runContainer(pool, 2);

  for (int sig : {SIGTERM, SIGKILL}) {
    SCOPED_TRACE(sig == SIGTERM ? "after SIGTERM" : "after kill -9");
    int status = proc_->kill(sig);
    if (sig == SIGTERM) {
      ASSERT_TRUE(WIFEXITED(status)) << logText();
      EXPECT_EQ(WEXITSTATUS(status), 0) << logText();
    }
    startPlugin();
    auto info = call("/NetworkDriver.EndpointOperInfo", {{"NetworkID", kNid}, {"EndpointID", eid(1)}});
    EXPECT_EQ(info["Value"]["weft.address"], a1);
    // IPAM remembers: the same addresses are not handed out again.
    auto again =
        call("/IpamDriver.RequestAddress", {{"PoolID", pool}, {"Address", a2.substr(0, a2.find('/'))}});
    EXPECT_NE(again.value("Error", ""), "");
    auto next = call("/IpamDriver.RequestAddress", {{"PoolID", pool}});
    EXPECT_NE(next["Address"], a1);
    EXPECT_NE(next["Address"], a2);
    ok("/IpamDriver.ReleaseAddress", {{"PoolID", pool}, {"Address", next["Address"]}});
    auto busy = call("/NetworkDriver.DeleteNetwork", {{"NetworkID", kNid}});
    EXPECT_TRUE(busy.contains("Err"));
  }
  // Restored endpoints leave and go; new ones join.
  stopContainer(pool, 1, a1);
  auto a3 = runContainer(pool, 3);
  stopContainer(pool, 2, a2);
  stopContainer(pool, 3, a3);
  ok("/NetworkDriver.DeleteNetwork", {{"NetworkID", kNid}});
}

TEST_F(PluginBinary, CorruptStateFileStopsStartUpAndIsKept) {
  ASSERT_TRUE(makeDirs(dir_ / "state").ok());
  ASSERT_TRUE(writeFileAtomic(dir_ / "state/state.json", "{not json").ok());
  test::ChildProcess p({WEFT_PLUGIN_BIN, "--fake-kernel", "--socket", sock(), "--state-dir", dir_ / "state"},
                       log());
  ASSERT_TRUE(p.waitExit(5000));
  EXPECT_TRUE(WIFEXITED(p.exitStatus()));
  EXPECT_NE(WEXITSTATUS(p.exitStatus()), 0);
  EXPECT_NE(logText().find("corrupt"), std::string::npos) << logText();
  EXPECT_EQ(*readFile(dir_ / "state/state.json"), "{not json");
}

TEST_F(PluginBinary, BadSettingsAreRefusedAtStart) {
  test::ChildProcess p({WEFT_PLUGIN_BIN, "--fake-kernel", "--scope=planet", "--socket", sock()}, log());
  ASSERT_TRUE(p.waitExit(5000));
  EXPECT_EQ(WEXITSTATUS(p.exitStatus()), 2);
  EXPECT_NE(logText().find("SCOPE"), std::string::npos);
}

TEST_F(PluginBinary, KeepDirInsideTheStateDirectoryIsRefused) {
  // A second namespace mount there would vanish with the first one.
  test::ChildProcess p({WEFT_PLUGIN_BIN, "--fake-kernel", "--socket", sock(), "--state-dir", dir_ / "state",
                        "--netns-keep-dir", dir_ / "state/netns/kept"},
                       log());
  ASSERT_TRUE(p.waitExit(5000));
  EXPECT_EQ(WEXITSTATUS(p.exitStatus()), 1);
  EXPECT_NE(logText().find("NETNS_KEEP_DIR"), std::string::npos) << logText();
  EXPECT_NE(::access(sock().c_str(), F_OK), 0);
}

TEST_F(PluginBinary, WeftctlShowsNetworksAndEndpoints) {
  startPlugin();
  auto pool = createNetwork();
  auto a1 = runContainer(pool, 1);
  int st = -1;
  auto out = runCapture(std::string(WEFTCTL_BIN) + " --socket " + sock() + " --json networks", &st);
  ASSERT_EQ(st, 0) << out;
  auto j = Json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  ASSERT_EQ(j["networks"].size(), 1u);
  EXPECT_EQ(j["networks"][0]["id"], kNid);
  EXPECT_EQ(j["networks"][0]["endpoints"], 1);
  auto table = runCapture(std::string(WEFTCTL_BIN) + " --socket " + sock() + " endpoints", &st);
  ASSERT_EQ(st, 0);
  EXPECT_NE(table.find(a1), std::string::npos) << table;
  EXPECT_NE(table.find("yes"), std::string::npos) << table;
  auto status = runCapture(std::string(WEFTCTL_BIN) + " --socket " + sock() + " --json status", &st);
  EXPECT_EQ(Json::parse(status)["endpoints"], 1);
  // report: every answer in one document, no keys in it.
  auto rep = runCapture(std::string(WEFTCTL_BIN) + " --socket " + sock() + " report", &st);
  ASSERT_EQ(st, 0) << rep;
  auto rj = Json::parse(rep, nullptr, false);
  ASSERT_FALSE(rj.is_discarded()) << rep;
  for (const char* part : {"status", "networks", "endpoints", "peers", "services", "crypto"})
    EXPECT_TRUE(rj.contains(part) && !rj[part].contains("error")) << part << ": " << rep;
  EXPECT_EQ(rj["networks"]["networks"][0]["id"], kNid);
  EXPECT_EQ(rj["status"]["selfHealing"]["on"], true);
  EXPECT_EQ(rep.find("\"key"), std::string::npos) << rep;
  auto chk = runCapture(std::string(WEFTCTL_BIN) + " --socket " + sock() + " --json check", &st);
  EXPECT_EQ(st, 0) << chk;
  EXPECT_TRUE(Json::parse(chk)["notices"].empty()) << chk;
  runCapture(std::string(WEFTCTL_BIN) + " --socket " + (dir_ / "nope.sock") + " report 2>&1", &st);
  EXPECT_EQ(WEXITSTATUS(st), 1);
  runCapture(std::string(WEFTCTL_BIN) + " --socket " + (dir_ / "nope.sock") + " status 2>&1", &st);
  EXPECT_NE(WEXITSTATUS(st), 0);
  runCapture(std::string(WEFTCTL_BIN) + " bogus 2>&1", &st);
  EXPECT_EQ(WEXITSTATUS(st), 2);
}

// A newline in a request field must not start a line of its own in the log
// (issue 10 finding 12): refused requests are logged with their fields.
TEST_F(PluginBinary, RequestFieldsCannotForgeLogLines) {
  startPlugin();
  const std::string forged = "2026-01-01T00:00:00.000Z error plugin: forged by a caller";
  auto j = call("/NetworkDriver.DeleteNetwork", {{"NetworkID", "x\n" + forged + "\r\x1b[2K"}});
  EXPECT_TRUE(j.contains("Err"));
  std::string text = logText();
  std::istringstream lines(text);
  bool escaped = false;
  for (std::string line; std::getline(lines, line);) {
    EXPECT_NE(line.rfind(forged, 0), 0u) << "forged line in the log:\n" << text;
    if (line.find("x\\n" + forged + "\\r\\x1b[2K") != std::string::npos) escaped = true;
  }
  EXPECT_TRUE(escaped) << "the refused request is not logged with its field escaped:\n" << text;
}

// --key is accepted, but the key does not stay readable by every local user
// in /proc/<pid>/cmdline, and the log says where to put it instead (issue 10
// finding 8).
TEST_F(PluginBinary, KeyFlagIsScrubbedFromTheCommandLineWithAWarning) {
  const std::string key = "c2VjcmV0LWtleS1vZi0zMi1ieXRlcy0wMTIzNDU2Nzg=";  // 32 bytes, base64
  startPlugin({"--key", key, "--log-level", "info"});
  auto cmdline = readFile("/proc/" + std::to_string(proc_->pid()) + "/cmdline");
  ASSERT_TRUE(cmdline.ok());
  EXPECT_EQ(cmdline->find(key), std::string::npos) << "the key is in /proc/<pid>/cmdline";
  EXPECT_NE(cmdline->find("--socket"), std::string::npos);  // the rest is as it was
  EXPECT_NE(logText().find("WEFT_KEY"), std::string::npos) << logText();
  EXPECT_EQ(logText().find(key), std::string::npos) << logText();
}

// Header count and size are bounded: past either, 431 with a JSON error and
// the connection closed; the limit itself is fine (issue 10 finding 6).
