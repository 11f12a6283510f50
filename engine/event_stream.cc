#include "engine/event_stream.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/json_depth.h"
#include "common/log.h"
#include "common/unix_socket.h"

namespace weft::engine {

namespace {

using Json = nlohmann::json;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool validId(const std::string& id) {
  return !id.empty() && id.size() <= 128 &&
         std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isalnum(c); });
}

std::string str(const Json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<EngineEvent> parseEvent(std::string_view line) {
  if (line.size() > kMaxEventLine) return Error{EMSGSIZE, "engine event longer than 64 KiB"};
  const std::string s(line);
  if (jsonDepth(s, 8) > 8) return Error{EPROTO, "engine event nested too deeply"};
  Json j = Json::parse(s, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error{EPROTO, "engine event is not a JSON object"};
  EngineEvent e;
  e.type = str(j, "Type");
  e.action = str(j, "Action");
  if (e.type.empty() || e.action.empty() || e.type.size() > 32 || e.action.size() > 64)
    return Error{EPROTO, "engine event without a Type or Action"};
  // "exec_start: sh" and the like: the verb is the first word.
  if (auto sp = e.action.find_first_of(": "); sp != std::string::npos) e.action.resize(sp);
  auto actor = j.find("Actor");
  if (actor == j.end() || !actor->is_object()) return Error{EPROTO, "engine event without an Actor"};
  if (e.type == "container") {
    e.container = str(*actor, "ID");
  } else if (e.type == "network") {
    auto attrs = actor->find("Attributes");
    if (attrs != actor->end() && attrs->is_object()) e.container = str(*attrs, "container");
  }
  if (!e.container.empty() && !validId(e.container))
    return Error{EPROTO, "engine event with a malformed container id"};
  return e;
}

std::string eventsPath() {
  // {"type":["container","network"],"event":[...]}, URL-encoded.
  return "/events?filters=%7B%22type%22%3A%5B%22container%22%2C%22network%22%5D%2C%22event%22%3A%5B%22start%"
         "22%2C"
         "%22die%22%2C%22destroy%22%2C%22rename%22%2C%22connect%22%2C%22disconnect%22%5D%7D";
}

Status EventLineDecoder::addData(std::string_view data, std::vector<std::string>* lines) {
  for (char c : data) {
    if (c == '\n') {
      if (!line_.empty() && line_.back() == '\r') line_.pop_back();
      if (!line_.empty()) lines->push_back(std::move(line_));
      line_.clear();
      continue;
    }
    if (line_.size() >= kMaxEventLine) return Error{EMSGSIZE, "an engine event line longer than 64 KiB"};
    line_.push_back(c);
  }
  return Status::Ok();
}

Status EventLineDecoder::feed(std::string_view bytes, std::vector<std::string>* lines) {
  if (!chunked_) return addData(bytes, lines);
  size_t i = 0;
  while (i < bytes.size()) {
    switch (state_) {
      case State::kSize: {
        char c = bytes[i++];
        if (c != '\n') {
          if (sizeLine_.size() >= 64) return Error{EPROTO, "a chunk size line longer than 64 bytes"};
          sizeLine_.push_back(c);
          break;
        }
        std::string hex = sizeLine_.substr(0, sizeLine_.find_first_of(";\r"));
        sizeLine_.clear();
        if (hex.empty() || hex.size() > 8 ||
            !std::all_of(hex.begin(), hex.end(), [](unsigned char h) { return std::isxdigit(h); }))
          return Error{EPROTO, "a malformed chunk size"};
        left_ = std::stoul(hex, nullptr, 16);
        state_ = left_ == 0 ? State::kTrailer : State::kData;
        break;
      }
      case State::kData: {
        size_t n = std::min(left_, bytes.size() - i);
        if (auto st = addData(bytes.substr(i, n), lines); !st) return st;
        i += n;
        left_ -= n;
        if (left_ == 0) state_ = State::kDataEnd;
        break;
      }
      case State::kDataEnd: {  // the CRLF after a chunk's data
        char c = bytes[i++];
        if (c == '\n')
          state_ = State::kSize;
        else if (c != '\r')
          return Error{EPROTO, "a chunk not followed by CRLF"};
        break;
      }
      case State::kTrailer:
        return Error{ECONNRESET, "the engine ended the event stream"};
    }
  }
  return Status::Ok();
}

EventStream::EventStream(std::string socketPath, std::function<void(const EngineEvent&)> onEvent,
                         std::function<void(bool up)> onState, Config cfg)
    : path_(std::move(socketPath)),
      onEvent_(std::move(onEvent)),
      onState_(std::move(onState)),
      cfg_(cfg),
      wakeFd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

EventStream::~EventStream() {
  stop();
  if (wakeFd_ >= 0) ::close(wakeFd_);
}

void EventStream::start() {
  std::lock_guard<std::mutex> lk(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void EventStream::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  uint64_t one = 1;
  if (wakeFd_ >= 0) (void)!::write(wakeFd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  if (wakeFd_ >= 0) {
    uint64_t v;
    (void)!::read(wakeFd_, &v, sizeof v);
  }
}

std::string EventStream::lastError() const {
  std::lock_guard<std::mutex> lk(mu_);
  return lastError_;
}

bool EventStream::sleepFor(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lk(mu_);
  return !cv_.wait_for(lk, d, [this] { return stop_; });
}

void EventStream::run() {
  auto backoff = cfg_.backoffMin;
  for (;;) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stop_) return;
    }
    const uint64_t before = connects_;
    Error why = session();
    if (connected_.exchange(false) && onState_) onState_(false);
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stop_) return;
      if (why.message != lastError_)
        LOG_WARN("names",
                 "the engine's event stream at " << path_ << ": " << why.message << " (reconnecting)");
      lastError_ = why.message;
    }
    // A session that got going starts the backoff over.
    if (connects_ != before) backoff = cfg_.backoffMin;
    if (!sleepFor(backoff)) return;
    backoff = std::min(backoff * 2, cfg_.backoffMax);
  }
}

Error EventStream::session() {
  auto conn = connectUnixStream(path_);
  if (!conn) return conn.error();
  const int fd = *conn;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  const std::string req = "GET " + eventsPath() + " HTTP/1.1\r\nHost: docker\r\nUser-Agent: weft\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    return Error{errno, std::string("send: ") + std::strerror(errno)};

  std::string head;
  std::optional<EventLineDecoder> decoder;
  std::vector<std::string> lines;
  char buf[16384];
  auto headerDeadline = std::chrono::steady_clock::now() + cfg_.connectTimeout;
  for (;;) {
    pollfd p[2] = {{fd, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
    int timeout = -1;
    if (!decoder) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(headerDeadline -
                                                                        std::chrono::steady_clock::now());
      if (left.count() <= 0) return Error{ETIMEDOUT, "no answer to GET /events"};
      timeout = static_cast<int>(left.count());
    }
    int n = ::poll(p, 2, timeout);
    if (n < 0 && errno != EINTR) return Error{errno, std::string("poll: ") + std::strerror(errno)};
    if (p[1].revents & POLLIN) return Error{ECANCELED, "stopped"};
    if (n <= 0 || !(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t got = ::recv(fd, buf, sizeof buf, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return Error{errno, std::string("recv: ") + std::strerror(errno)};
    if (got == 0) return Error{ECONNRESET, "the engine closed the event stream"};
    std::string_view data(buf, static_cast<size_t>(got));
    if (!decoder) {
      head.append(data);
      auto end = head.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (head.size() > kMaxEventHeader)
          return Error{EMSGSIZE, "the answer's header is larger than 16 KiB"};
        continue;
      }
      const std::string status = head.substr(0, head.find("\r\n"));
      if (status.rfind("HTTP/1.", 0) != 0 || status.size() < 12 || status.substr(9, 3) != "200")
        return Error{EPROTO, "GET /events: " + status.substr(0, 64)};
      const std::string h = lower(head.substr(0, end));
      decoder.emplace(h.find("\r\ntransfer-encoding: chunked") != std::string::npos);
      data = std::string_view(head).substr(end + 4);
      connected_ = true;
      ++connects_;
      {
        std::lock_guard<std::mutex> lk(mu_);
        if (!lastError_.empty()) LOG_INFO("names", "the engine's event stream at " << path_ << " is back");
        lastError_.clear();
      }
      if (onState_) onState_(true);
    }
    lines.clear();
    Status st = decoder->feed(data, &lines);
    for (const auto& l : lines) {
      auto e = parseEvent(l);
      if (!e) {
        LOG_DEBUG("names", "engine event skipped: " << e.error().message);
        continue;
      }
      ++events_;
      if (onEvent_) onEvent_(*e);
    }
    if (!head.empty()) head.clear();
    if (!st) return st.error();
  }
}

}  // namespace weft::engine
