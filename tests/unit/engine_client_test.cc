// The engine's answers as weft reads them: decoding, limits, and the HTTP
// client over a unix socket (chunked bodies, as Go's server sends large
// JSON).
#include "engine/engine_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

namespace weft::engine {
namespace {

IpAddr ip(const char* s) { return *IpAddr::parse(s); }

// What a worker's engine answered for a weft network (trimmed from a real
// `GET /networks/<id>?verbose=true` on the test bed).
const char* kVerbose = R"({
  "Name": "appnet", "Id": "nprc2cpbpxr4hpuwjkjsgppfb", "Scope": "swarm", "Driver": "weft:latest",
  "Containers": {
    "00757408ef401593f9840da79a8ab247a7de06d43d541107d3ca44673b0204e4": {
      "Name": "cli.y5z", "EndpointID": "835dbb8b65b3713fca1a540c85fa8649dbae48a10ab9b0b8dc3ba3b2750b9d10",
      "MacAddress": "02:42:0a:58:00:08", "IPv4Address": "10.88.0.8/24", "IPv6Address": ""},
    "lb-appnet": {"Name": "appnet-endpoint", "EndpointID": "abc", "IPv4Address": "10.88.0.9/24"}
  },
  "Options": {"vni": "2089"},
  "Services": {
    "cli": {"VIP": "10.88.0.6", "Ports": [], "LocalLBIndex": 256,
            "Tasks": [{"Name": "cli.1", "EndpointID": "835d", "EndpointIP": "10.88.0.8", "Info": null},
                      {"Name": "cli.2", "EndpointID": "bbf0", "EndpointIP": "10.88.0.7", "Info": null}]},
    "web": {"VIP": "10.88.0.2", "Ports": [], "LocalLBIndex": 257,
            "Tasks": [{"Name": "web.2", "EndpointIP": "10.88.0.4"}, {"Name": "web.3", "EndpointIP": "10.88.0.5"},
                      {"Name": "web.1", "EndpointIP": "10.88.0.3"}, {"Name": "web.1", "EndpointIP": "10.88.0.3"}]},
    "rr": {"VIP": "", "Tasks": [{"EndpointIP": "10.88.0.10"}]},
    "rr2": {"VIP": "<nil>", "LocalLBIndex": 0, "Tasks": [{"EndpointIP": "10.88.0.11"}]}
  }
})";

TEST(EngineParse, AVerboseNetworkInspectGivesServicesVipsAndLocalContainers) {
  auto v = parseNetworkView(kVerbose);
  ASSERT_TRUE(v.ok()) << v.error().message;
  ASSERT_EQ(v->services.size(), 4u);
  EXPECT_EQ(v->services[0].name, "cli");
  EXPECT_EQ(v->services[0].vip, ip("10.88.0.6"));
  EXPECT_EQ(v->services[0].backends, (std::vector<IpAddr>{ip("10.88.0.7"), ip("10.88.0.8")}));
  EXPECT_EQ(v->services[1].name, "rr");
  EXPECT_FALSE(v->services[1].vip.has_value());
  EXPECT_EQ(v->services[2].name, "rr2");
  EXPECT_FALSE(v->services[2].vip.has_value());   // dnsrr as dockerd writes it
  EXPECT_EQ(v->services[3].backends.size(), 3u);  // sorted, the duplicate dropped
  ASSERT_EQ(v->containers.size(), 1u);            // lb-appnet is not a container
  EXPECT_EQ(v->containers.begin()->second.substr(0, 12), "00757408ef40");
}

TEST(EngineParse, ANetworkWithoutServicesIsEmpty) {
  auto v = parseNetworkView(R"({"Name":"x","Containers":{}})");
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->services.empty());
}

TEST(EngineParse, MalformedAnswersAreErrors) {
  for (const char* bad :
       {"", "[]", "{", R"({"Services": []})", R"({"Services": {"a": 1}})",
        R"({"Services": {"a": {"VIP": "10.0.0.300"}}})", R"({"Services": {"a": {"VIP": 7}}})",
        R"({"Services": {"a": {"VIP": "10.0.0.2", "Tasks": {}}}})",
        R"({"Services": {"a": {"VIP": "10.0.0.2", "Tasks": [{"EndpointIP": "x"}]}}})",
        R"({"Containers": []})"}) {
    EXPECT_FALSE(parseNetworkView(bad).ok()) << bad;
  }
  std::string deep(100000, '[');
  EXPECT_EQ(parseNetworkView(R"({"x":)" + deep).code(), EPROTO);
}

TEST(EngineParse, TooManyTasksAreRefused) {
  std::string tasks;
  for (size_t i = 0; i <= kMaxTasksPerService; ++i)
    tasks += std::string(i ? "," : "") + R"({"EndpointIP":"10.1.0.1"})";
  EXPECT_EQ(parseNetworkView(R"({"Services":{"a":{"VIP":"10.0.0.2","Tasks":[)" + tasks + "]}}}").code(),
            EMSGSIZE);
}

TEST(EngineParse, TooManyServicesAreRefused) {
  std::string svcs;
  for (size_t i = 0; i <= kMaxServices; ++i)
    svcs += std::string(i ? "," : "") + "\"s" + std::to_string(i) + "\":{\"VIP\":\"\"}";
  EXPECT_EQ(parseNetworkView("{\"Services\":{" + svcs + "}}").code(), EMSGSIZE);
}

TEST(EngineParse, SandboxKey) {
  EXPECT_EQ(*parseSandboxKey(R"({"NetworkSettings":{"SandboxKey":"/var/run/docker/netns/ab12"}})"),
            "/var/run/docker/netns/ab12");
  EXPECT_EQ(parseSandboxKey(R"({"NetworkSettings":{"SandboxKey":""}})").code(), ENOENT);
  EXPECT_EQ(parseSandboxKey(R"({"State":{}})").code(), EPROTO);
}

// A one-connection engine on a unix socket that answers each request with
// the next canned response.
class CannedEngine {
 public:
  explicit CannedEngine(std::vector<std::string> responses) : responses_(std::move(responses)) {
    char tmpl[] = "/tmp/weft-engine-test.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/docker.sock";
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    thread_ = std::thread([this] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      for (const auto& r : responses_) {
        char buf[4096];
        std::string req;
        while (req.find("\r\n\r\n") == std::string::npos) {
          ssize_t n = ::recv(c, buf, sizeof buf, 0);
          if (n <= 0) break;
          req.append(buf, static_cast<size_t>(n));
        }
        requests.push_back(req.substr(0, req.find("\r\n")));
        ::send(c, r.data(), r.size(), MSG_NOSIGNAL);
      }
      ::close(c);
    });
  }
  ~CannedEngine() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  std::vector<std::string> requests;

 private:
  std::vector<std::string> responses_;
  std::string dir_, path_;
  int fd_ = -1;
  std::thread thread_;
};

std::string chunked(const std::string& body, size_t piece) {
  std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t i = 0; i < body.size(); i += piece) {
    std::string part = body.substr(i, piece);
    char hex[32];
    std::snprintf(hex, sizeof hex, "%zx", part.size());
    out += std::string(hex) + "\r\n" + part + "\r\n";
  }
  return out + "0\r\n\r\n";
}

TEST(EngineClientTest, ReadsChunkedAnswersOverTheUnixSocket) {
  std::string key = R"({"NetworkSettings":{"SandboxKey":"/var/run/docker/netns/ab12"}})";
  CannedEngine e({chunked(kVerbose, 100),
                  "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(key.size()) + "\r\n\r\n" + key,
                  "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}"});
  EngineClient c(e.path());
  auto v = c.network("nprc2cpbpxr4hpuwjkjsgppfb");
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->services.size(), 4u);
  auto k = c.sandboxKey("00757408ef40");
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(*k, "/var/run/docker/netns/ab12");
  EXPECT_EQ(c.network("gone").code(), ENOENT);
  ASSERT_EQ(e.requests.size(), 3u);
  EXPECT_EQ(e.requests[0], "GET /networks/nprc2cpbpxr4hpuwjkjsgppfb?verbose=true HTTP/1.1");
  EXPECT_EQ(e.requests[1], "GET /containers/00757408ef40/json HTTP/1.1");
}

TEST(EngineClientTest, IdsThatCouldChangeThePathAreRefusedBeforeAnyRequest) {
  EngineClient c("/nonexistent/docker.sock");
  EXPECT_EQ(c.network("../containers/x").code(), EINVAL);
  EXPECT_EQ(c.network("a?b").code(), EINVAL);
  EXPECT_EQ(c.sandboxKey("").code(), EINVAL);
  EXPECT_EQ(c.network("abc").code(), ENOENT);  // well-formed: the socket is missing
}

TEST(EngineClientTest, OversizedAndMalformedHttpIsAnError) {
  std::string huge =
      "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kMaxResponseBytes + 1) + "\r\n\r\n";
  {
    CannedEngine e({huge});
    EngineClient c(e.path());
    EXPECT_EQ(c.network("abc").code(), EMSGSIZE);
  }
  {
    CannedEngine e({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"});
    EngineClient c(e.path());
    EXPECT_EQ(c.network("abc").code(), EPROTO);
  }
  {
    CannedEngine e({"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n"});
    EngineClient c(e.path());
    EXPECT_EQ(c.network("abc").code(), EPROTO);
  }
  {
    CannedEngine e({"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}"});
    EngineClient c(e.path());
    EXPECT_EQ(c.network("abc").code(), EIO);
  }
}

}  // namespace
}  // namespace weft::engine
