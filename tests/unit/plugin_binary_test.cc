// Drives the real weft-plugin binary (--fake-kernel) over its unix socket:
// a full create -> endpoint -> join -> leave -> delete cycle, and restore
// after a clean stop and after kill -9.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/json_file.h"
#include "common/unix_http_client.h"
#include "plugin/request_limits.h"
#include "tests/support/loopback.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using Json = nlohmann::json;
using namespace weft;

namespace {

const std::string kNid(64, 'a');

std::string eid(int i) {
  // Docker's IDs are random hex; what matters is a distinct prefix.
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (i + 1) * 0x9e3779b97f4a7c15ull);
  return std::string(buf) + std::string(48, 'e');
}

// A raw connection to the plugin's socket, for requests no client would send.
class RawConnection {
 public:
  explicit RawConnection(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  // Sends what the socket takes without blocking: bytes sent, or -1 once the
  // plugin has closed its end.
  ssize_t sendSome(const std::string& data) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : n;
  }
  bool readable(int ms) {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, ms) > 0;
  }
  // Everything the plugin sends until it closes the connection (`closed`),
  // or until `ms` pass.
  std::string readUntilClosed(int ms, bool* closed) {
    std::string out;
    *closed = false;
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) {
      if (!readable(50)) continue;
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        *closed = true;  // EOF, or reset after the answer
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_;
  bool connected_ = false;
};

int statusOf(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
  return std::atoi(response.substr(9, 3).c_str());
}
Json bodyOf(const std::string& response) {
  auto at = response.find("\r\n\r\n");
  Json j = at == std::string::npos ? Json() : Json::parse(response.substr(at + 4), nullptr, false);
  return j.is_object() ? j : Json::object();
}

class PluginBinary : public ::testing::Test {
 protected:
  std::string sock() const { return dir_ / "weft.sock"; }
  std::string log() const { return dir_ / "plugin.log"; }

  void startPlugin(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {WEFT_PLUGIN_BIN, "--fake-kernel", "--socket",
                                     sock(),          "--state-dir",   dir_ / "state"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc_ = std::make_unique<test::ChildProcess>(argv, log());
    client_ = std::make_unique<UnixHttpClient>(sock(), 2000);
    for (int i = 0; i < 300; ++i) {
      if (!proc_->running()) break;
      UnixHttpClient probe(sock(), 500);
      if (probe.post("/Plugin.Activate", "{}").ok()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "weft-plugin did not start; log:\n" << logText();
  }

  std::string logText() const {
    auto t = readFile(log());
    return t.ok() ? *t : std::string("(no log)");
  }

  Json call(const std::string& path, const Json& body) {
    auto r = client_->post(path, body.dump());
    EXPECT_TRUE(r.ok()) << path << ": " << (r.ok() ? "" : r.error().message);
    if (!r.ok()) return Json{{"Err", "transport"}};
    EXPECT_EQ(r->status, 200) << path << " " << r->body;
    EXPECT_EQ(r->contentType, "application/vnd.docker.plugins.v1+json");
    return Json::parse(r->body, nullptr, false);
  }
  void ok(const std::string& path, const Json& body) {
    auto j = call(path, body);
    EXPECT_FALSE(j.contains("Err") || j.contains("Error")) << path << ": " << j.dump();
  }

  // The calls Docker makes for `docker network create -d weft --ipam-driver weft`.
  std::string createNetwork() {
    auto pool = call("/IpamDriver.RequestPool",
                     {{"AddressSpace", "weft-local"}, {"Pool", "10.10.0.0/24"}, {"V6", false}});
    std::string pid = pool["PoolID"];
    auto gw = call("/IpamDriver.RequestAddress",
                   {{"PoolID", pid}, {"Options", {{"RequestAddressType", "com.docker.network.gateway"}}}});
    ok("/NetworkDriver.CreateNetwork",
       {{"NetworkID", kNid},
        {"Options",
         {{"com.docker.network.generic", Json::object()}, {"com.docker.network.enable_ipv6", false}}},
        {"IPv4Data",
         {{{"AddressSpace", "weft-local"}, {"Pool", "10.10.0.0/24"}, {"Gateway", gw["Address"]}}}}});
    return pid;
  }
  // `docker run --network`: address, endpoint, join.
  std::string runContainer(const std::string& pool, int i) {
    auto a = call("/IpamDriver.RequestAddress", {{"PoolID", pool}});
    std::string addr = a["Address"];
    auto ce = call("/NetworkDriver.CreateEndpoint",
                   {{"NetworkID", kNid}, {"EndpointID", eid(i)}, {"Interface", {{"Address", addr}}}});
    EXPECT_TRUE(ce["Interface"].contains("MacAddress")) << ce.dump() << " addr=" << addr;
    auto j = call("/NetworkDriver.Join", {{"NetworkID", kNid},
                                          {"EndpointID", eid(i)},
                                          {"SandboxKey", "/var/run/docker/netns/c" + std::to_string(i)}});
    EXPECT_EQ(j["InterfaceName"]["DstPrefix"], "eth");
    EXPECT_FALSE(j["InterfaceName"]["SrcName"].get<std::string>().empty());
    return addr;
  }
  void stopContainer(const std::string& pool, int i, const std::string& addr) {
    ok("/NetworkDriver.Leave", {{"NetworkID", kNid}, {"EndpointID", eid(i)}});
    ok("/NetworkDriver.DeleteEndpoint", {{"NetworkID", kNid}, {"EndpointID", eid(i)}});
    ok("/IpamDriver.ReleaseAddress", {{"PoolID", pool}, {"Address", addr}});
  }

  test::TempDir dir_{"weft-bin"};
  std::unique_ptr<test::ChildProcess> proc_;
  std::unique_ptr<UnixHttpClient> client_;
};

}  // namespace

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

namespace {
using test::runCapture;
}  // namespace

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
TEST_F(PluginBinary, TooManyOrTooLargeHeadersAre431AndCloseTheConnection) {
  startPlugin();
  auto request = [](size_t extraHeaders, size_t headerValueBytes) {
    std::string r = "POST /Plugin.Activate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n";
    for (size_t i = 0; i < extraHeaders; ++i) r += "X-" + std::to_string(i) + ": y\r\n";
    if (headerValueBytes) r += "X-Big: " + std::string(headerValueBytes, 'b') + "\r\n";
    return r + "\r\n{}";
  };
  const size_t limit = plugin::kMaxHeaderCount;
  struct Case {
    std::string request;
    int status;
    std::string mention;
  };
  const std::vector<Case> cases = {
      {request(limit - 2, 0), 200, "Implements"},  // Host + Content-Length + 98 = the limit
      {request(limit - 1, 0), 431, std::to_string(limit) + " header lines"},
      {request(400000, 0), 431, std::to_string(limit) + " header lines"},
      {request(0, plugin::kMaxHeaderBytes), 431, std::to_string(plugin::kMaxHeaderBytes >> 10) + " KiB"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.mention + " / " + std::to_string(c.request.size()) + " bytes");
    RawConnection conn(sock());
    ASSERT_TRUE(conn.connected());
    size_t sent = 0;
    bool closed = false;
    std::string answer;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < end && answer.empty()) {
      if (sent < c.request.size()) {
        ssize_t n = conn.sendSome(c.request.substr(sent, 65536));
        if (n < 0) break;
        sent += static_cast<size_t>(n);
      }
      if (conn.readable(sent < c.request.size() ? 0 : 100))
        answer = conn.readUntilClosed(c.status == 200 ? 300 : 2000, &closed);
    }
    if (answer.empty()) answer = conn.readUntilClosed(2000, &closed);  // it closed while we sent
    EXPECT_EQ(statusOf(answer), c.status) << answer.substr(0, 300);
    Json body = bodyOf(answer);
    EXPECT_NE(body.dump().find(c.mention), std::string::npos) << answer.substr(0, 300);
    if (c.status != 200) {
      EXPECT_TRUE(closed) << "the connection stays open after " << c.status;
      EXPECT_LT(sent, 2 * plugin::kMaxHeaderBytes + (1 << 20)) << "the plugin read on past the limit";
    }
  }
  EXPECT_TRUE(call("/Plugin.Activate", Json::object()).contains("Implements"));
}

// A body is not read past the limit, chunked or not: 413 with a JSON error
// and the connection closed while the client is still sending (issue 10
// finding 6: a 200 MiB chunked body was read whole).
TEST_F(PluginBinary, OversizedBodiesAreCutOffWith413WhileBeingSent) {
  startPlugin();
  const std::string chunk = "10000\r\n" + std::string(65536, ' ') + "\r\n";
  const size_t kOffered = 64 << 20;  // what the client would send
  const std::vector<std::string> heads = {
      "POST /NetworkDriver.CreateNetwork HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST /NetworkDriver.CreateNetwork HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(kOffered) +
          "\r\n\r\n"};
  for (const auto& head : heads) {
    bool chunked = head.find("chunked") != std::string::npos;
    SCOPED_TRACE(chunked ? "chunked" : "Content-Length");
    RawConnection conn(sock());
    ASSERT_TRUE(conn.connected());
    ASSERT_EQ(conn.sendSome(head), static_cast<ssize_t>(head.size()));
    size_t sent = 0, pending = 0;  // body bytes sent; of the current piece
    const std::string& piece = chunked ? chunk : std::string(65536, ' ');
    std::string answer;
    bool closed = false;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < end && sent < kOffered) {
      if (conn.readable(0)) {
        answer = conn.readUntilClosed(2000, &closed);
        break;
      }
      ssize_t n = conn.sendSome(piece.substr(pending));
      if (n < 0) break;  // the plugin closed its end: its answer is waiting
      if (n == 0) conn.readable(10);
      pending = (pending + static_cast<size_t>(n)) % piece.size();
      sent += static_cast<size_t>(n);
    }
    if (answer.empty()) answer = conn.readUntilClosed(2000, &closed);
    EXPECT_EQ(statusOf(answer), 413) << answer.substr(0, 300) << " after " << sent << " bytes";
    EXPECT_NE(bodyOf(answer).value("Err", "").find("1 MiB"), std::string::npos) << answer.substr(0, 300);
    EXPECT_LT(sent, 4u << 20) << "the plugin read on past the limit";
  }
  EXPECT_TRUE(call("/Plugin.Activate", Json::object()).contains("Implements"));
}

// A request must arrive whole within kRequestDeadline, and clients that
// trickle theirs hold only their own connection: a normal call is answered
// at once meanwhile (issue 10 finding 7: 40 such clients held GetCapabilities
// for 18 s).
TEST_F(PluginBinary, SlowClientsAreCutOffAndDoNotHoldUpOthers) {
  startPlugin();
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  std::vector<std::unique_ptr<RawConnection>> slow;
  std::vector<std::string> answers(40);
  std::vector<double> answeredAfter(40, -1);
  for (int i = 0; i < 40; ++i) {
    slow.push_back(std::make_unique<RawConnection>(sock()));
    ASSERT_TRUE(slow.back()->connected());
    slow.back()->sendSome("POST /NetworkDriver.GetCapabilities HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  }
  const auto giveUp = t0 + plugin::kRequestDeadline + std::chrono::seconds(4);
  std::vector<double> normal;  // seconds each normal call took
  for (int tick = 0; Clock::now() < giveUp; ++tick) {
    bool waiting = false;
    for (size_t i = 0; i < slow.size(); ++i) {
      if (answeredAfter[i] >= 0) continue;
      if (slow[i]->readable(0)) {
        bool closed = false;
        answers[i] = slow[i]->readUntilClosed(1000, &closed);
        answeredAfter[i] = std::chrono::duration<double>(Clock::now() - t0).count();
        EXPECT_TRUE(closed) << "slow connection " << i << " left open";
        continue;
      }
      slow[i]->sendSome("a");  // one byte per 250 ms, forever
      waiting = true;
    }
    if (!waiting) break;
    if (tick % 4 == 1) {
      UnixHttpClient c(sock(), 3000);
      auto start = Clock::now();
      auto r = c.post("/NetworkDriver.GetCapabilities", "{}");
      normal.push_back(std::chrono::duration<double>(Clock::now() - start).count());
      EXPECT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.error().message);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_GE(normal.size(), 3u);
  for (double s : normal) EXPECT_LT(s, 1.0) << "a normal call waited behind the slow clients";
  const double deadline = static_cast<double>(plugin::kRequestDeadline.count());
  for (size_t i = 0; i < slow.size(); ++i) {
    EXPECT_EQ(statusOf(answers[i]), 408) << i << ": " << answers[i].substr(0, 200);
    EXPECT_NE(bodyOf(answers[i]).value("Err", "").find("within"), std::string::npos) << answers[i];
    EXPECT_GE(answeredAfter[i], deadline - 0.5) << i;
    EXPECT_LT(answeredAfter[i], deadline + 2.5) << i;
  }
}

// Past kMaxConnections served and kMaxWaitingConnections waiting, a new
// connection is answered 503 at once instead of queueing without bound; the
// plugin serves again as soon as those clients go.
TEST_F(PluginBinary, ConnectionsPastTheBudgetAre503AtOnce) {
  startPlugin();
  std::vector<std::unique_ptr<RawConnection>> hold;
  for (size_t n : {plugin::kMaxConnections, plugin::kMaxWaitingConnections}) {  // served, then waiting
    for (size_t i = 0; i < n; ++i) {
      hold.push_back(std::make_unique<RawConnection>(sock()));
      ASSERT_TRUE(hold.back()->connected());
      hold.back()->sendSome("POST /Plugin.Activate HTTP/1.1\r\n");  // and no more
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // every thread has taken one
  }
  RawConnection extra(sock());
  ASSERT_TRUE(extra.connected());
  auto start = std::chrono::steady_clock::now();
  bool closed = false;
  std::string answer = extra.readUntilClosed(2000, &closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(statusOf(answer), 503) << answer;
  EXPECT_NE(bodyOf(answer).value("Err", "").find(std::to_string(plugin::kMaxConnections)), std::string::npos)
      << answer;
  EXPECT_TRUE(closed);
  hold.clear();  // the plugin sees them go and takes new connections again
  // (It notices the closes asynchronously -- slower under the sanitizers --
  // so a 503 is allowed for a moment, not for 5 s.)
  UnixHttpClient after(sock(), 2000);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  auto r = after.post("/Plugin.Activate", "{}");
  while (r.ok() && r->status == 503 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    r = after.post("/Plugin.Activate", "{}");
  }
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200) << r->body;
}
