// The engine's event stream (engine/event_stream.h): events parsed and
// bounded, chunked bodies cut into lines however the bytes arrive, and a
// stream against a fake engine on a unix socket that drops the connection:
// events arrive, the stream reconnects and says so each time; and how it
// dials the engine's socket.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "common/unix_socket.h"
#include "engine/event_stream.h"
#include "tests/support/temp_dir.h"

namespace weft::engine {
namespace {

const std::string kCid = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

std::string containerEvent(const std::string& action, const std::string& id) {
  return R"({"status":")" + action + R"(","id":")" + id + R"(","Type":"container","Action":")" + action +
         R"(","Actor":{"ID":")" + id + R"(","Attributes":{"name":"web-1"}},"scope":"local","time":1})";
}

TEST(EngineEvents, ParsesContainerAndNetworkEvents) {
  auto c = parseEvent(containerEvent("rename", kCid));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(*c, (EngineEvent{"container", "rename", kCid}));
  auto n =
      parseEvent(R"({"Type":"network","Action":"connect","Actor":{"ID":"n1","Attributes":{"container":")" +
                 kCid + R"(","name":"n1","type":"weft"}}})");
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, (EngineEvent{"network", "connect", kCid}));
  auto exec =
      parseEvent(R"({"Type":"container","Action":"exec_start: sh -c x","Actor":{"ID":")" + kCid + "\"}}");
  ASSERT_TRUE(exec.ok());
  EXPECT_EQ(exec->action, "exec_start");
}

TEST(EngineEvents, RefusesMalformedEvents) {
  EXPECT_FALSE(parseEvent("not json").ok());
  EXPECT_FALSE(parseEvent("[1]").ok());
  EXPECT_FALSE(parseEvent(R"({"Action":"start","Actor":{}})").ok());          // no Type
  EXPECT_FALSE(parseEvent(R"({"Type":"container","Action":"start"})").ok());  // no Actor
  EXPECT_FALSE(parseEvent(R"({"Type":"container","Action":"start","Actor":{"ID":"../x"}})").ok());
  EXPECT_FALSE(parseEvent(std::string(kMaxEventLine + 1, ' ')).ok());
  std::string deep(100, '[');
  EXPECT_FALSE(parseEvent(R"({"Type":"container","Action":"start","Actor":)" + deep).ok());
}

TEST(EngineEvents, DecodesChunkedLinesSplitAnywhere) {
  const std::string a = containerEvent("start", kCid), b = containerEvent("die", kCid);
  auto hex = [](size_t n) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%zx", n);
    return std::string(buf);
  };
  // One chunk holding a line and half of the next, a second with the rest.
  const std::string body1 = a + "\n" + b.substr(0, 10), body2 = b.substr(10) + "\n";
  const std::string wire =
      hex(body1.size()) + "\r\n" + body1 + "\r\n" + hex(body2.size()) + ";ext\r\n" + body2 + "\r\n";
  for (size_t step : {size_t(1), size_t(7), wire.size()}) {
    EventLineDecoder d(true);
    std::vector<std::string> lines;
    for (size_t i = 0; i < wire.size(); i += step)
      ASSERT_TRUE(d.feed(std::string_view(wire).substr(i, step), &lines).ok()) << step;
    ASSERT_EQ(lines.size(), 2u) << step;
    EXPECT_EQ(lines[0], a);
    EXPECT_EQ(lines[1], b);
  }
  EventLineDecoder plain(false);
  std::vector<std::string> lines;
  ASSERT_TRUE(plain.feed(a + "\r\n\n" + b + "\n", &lines).ok());
  EXPECT_EQ(lines.size(), 2u);
}

TEST(EngineEvents, BoundsLinesAndChunkFraming) {
  EventLineDecoder longLine(false);
  std::vector<std::string> lines;
  EXPECT_EQ(longLine.feed(std::string(kMaxEventLine + 1, 'x'), &lines).code(), EMSGSIZE);
  EventLineDecoder badSize(true);
  EXPECT_EQ(badSize.feed("zz\r\n", &lines).code(), EPROTO);
  EventLineDecoder hugeSizeLine(true);
  EXPECT_EQ(hugeSizeLine.feed(std::string(100, '1'), &lines).code(), EPROTO);
  EventLineDecoder noCrlf(true);
  EXPECT_EQ(noCrlf.feed("2\r\nabX", &lines).code(), EPROTO);
  EventLineDecoder ended(true);
  EXPECT_EQ(ended.feed("0\r\n\r\n", &lines).code(), ECONNRESET);
}

// A fake engine: answers each GET /events with a chunked 200 and the events
// of that connection, then (if `close`) hangs up.
class FakeEngine {
 public:
  explicit FakeEngine(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path_.c_str(), sizeof sa.sun_path - 1);
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 && ::listen(fd_, 4) == 0;
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeEngine() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (int c : open_) ::close(c);
  }
  bool ok() const { return ok_; }
  std::string request() {
    std::lock_guard<std::mutex> lk(mu_);
    return request_;
  }

 private:
  void serve() {
    for (int conn = 0;; ++conn) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      {
        std::lock_guard<std::mutex> lk(mu_);
        request_.assign(buf, n > 0 ? static_cast<size_t>(n) : 0);
      }
      std::string out =
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
      for (const char* action :
           conn == 0 ? std::vector<const char*>{"start", "rename"} : std::vector<const char*>{"die"}) {
        std::string line = containerEvent(action, kCid) + "\n";
        char hex[16];
        std::snprintf(hex, sizeof hex, "%zx", line.size());
        out += std::string(hex) + "\r\n" + line + "\r\n";
      }
      (void)!::send(c, out.data(), out.size(), MSG_NOSIGNAL);
      if (conn == 0)
        ::close(c);  // the engine restarts: the stream breaks
      else
        open_.push_back(c);  // stays up
    }
  }
  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
  std::mutex mu_;
  std::string request_;
  std::vector<int> open_;
  std::thread thread_;
};

TEST(EngineEvents, StreamDeliversEventsAndReconnectsAfterTheEngineHangsUp) {
  test::TempDir dir;
  const std::string sock = dir.path() + "/docker.sock";
  std::mutex mu;
  std::vector<EngineEvent> got;
  std::vector<bool> states;
  EventStream::Config cfg;
  cfg.backoffMin = std::chrono::milliseconds(10);
  cfg.backoffMax = std::chrono::milliseconds(40);
  EventStream s(
      sock,
      [&](const EngineEvent& e) {
        std::lock_guard<std::mutex> lk(mu);
        got.push_back(e);
      },
      [&](bool up) {
        std::lock_guard<std::mutex> lk(mu);
        states.push_back(up);
      },
      cfg);
  s.start();  // no engine yet: it retries with backoff
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_FALSE(s.connected());
  EXPECT_NE(s.lastError().find("connect"), std::string::npos) << s.lastError();
  FakeEngine engine(sock);
  ASSERT_TRUE(engine.ok());
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard<std::mutex> lk(mu);
      if (got.size() >= 3 && states.size() >= 3) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  s.stop();
  std::lock_guard<std::mutex> lk(mu);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].action, "start");
  EXPECT_EQ(got[1].action, "rename");
  EXPECT_EQ(got[2].action, "die");
  EXPECT_EQ(got[2].container, kCid);
  // up, down (the hang-up), up again.
  ASSERT_GE(states.size(), 3u);
  EXPECT_EQ(states[0], true);
  EXPECT_EQ(states[1], false);
  EXPECT_EQ(states[2], true);
  EXPECT_EQ(s.connects(), 2u);
  EXPECT_NE(engine.request().find("GET " + eventsPath() + " HTTP/1.1"), std::string::npos);
}

// How the stream (and common/unix_http_client.h) dial the engine: the
// socket path's limit (sockaddr_un) and a missing socket are errors naming
// the path; a listening socket answers.
TEST(EngineSocket, DialsAUnixSocketAndNamesThePathWhenItCannot) {
  test::TempDir dir;
  const std::string tooLong = dir.path() + "/" + std::string(sizeof(sockaddr_un::sun_path), 's');
  auto longPath = connectUnixStream(tooLong);
  ASSERT_FALSE(longPath.ok());
  EXPECT_EQ(longPath.code(), ENAMETOOLONG);
  EXPECT_NE(longPath.error().message.find("too long"), std::string::npos) << longPath.error().message;
  const std::string missing = dir.path() + "/docker.sock";
  auto absent = connectUnixStream(missing);
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.code(), ENOENT);
  EXPECT_NE(absent.error().message.find("connect " + missing), std::string::npos) << absent.error().message;
  FakeEngine engine(missing);
  ASSERT_TRUE(engine.ok());
  auto fd = connectUnixStream(missing);
  ASSERT_TRUE(fd.ok()) << fd.error().message;
  EXPECT_GE(*fd, 0);
  ::close(*fd);
}

}  // namespace
}  // namespace weft::engine
