// The real weft-plugin binary's HTTP server at its limits, over raw
// connections to its unix socket: too many or too large headers, oversized
// bodies, slow clients, connections past the budget.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "plugin/request_limits.h"
#include "tests/unit/plugin_binary_fixture.h"

using namespace weft;
using namespace weft::test;

namespace {

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

}  // namespace

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
