#pragma once
// The Docker engine's event stream (GET /events), so that names across hosts
// (services/name_service.h) learns of a container's start, rename or network
// connect when it happens instead of at the next poll. One long-lived HTTP
// request over the engine's unix socket; the engine answers with a chunked
// body of JSON objects, one a line. The engine is another program: lines are
// bounded (kMaxEventLine: a longer one ends the connection), fields typed,
// and a stream that breaks is reconnected with a doubling backoff. The
// caller keeps a slow poll for what a broken stream missed (onState(true),
// each time the stream is up again, is its cue to resync at once).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.h"

namespace weft::engine {

inline constexpr size_t kMaxEventLine = 64 * 1024;
inline constexpr size_t kMaxEventHeader = 16 * 1024;

// What weft takes from one event.
struct EngineEvent {
  std::string type;       // "container" or "network"
  std::string action;     // start, die, destroy, rename, connect, disconnect, ...
  std::string container;  // the container's id (a network event's Actor.Attributes.container)
  bool operator==(const EngineEvent&) const = default;
};

// One line of the stream (pure; unit-tested). Malformed: an error.
Result<EngineEvent> parseEvent(std::string_view line);

// The query: container start/die/destroy/rename and network
// connect/disconnect only (the engine filters, so a busy host sends little).
std::string eventsPath();

// A chunked (or, without Transfer-Encoding, plain) response body cut into
// lines, each at most kMaxEventLine; pure, fed as bytes arrive.
class EventLineDecoder {
 public:
  explicit EventLineDecoder(bool chunked) : chunked_(chunked) {}
  // Appends complete lines to `lines`. An error (a malformed chunk, a line
  // past the bound) leaves the decoder unusable: the connection ends.
  Status feed(std::string_view bytes, std::vector<std::string>* lines);

 private:
  Status addData(std::string_view data, std::vector<std::string>* lines);
  enum class State { kSize, kData, kDataEnd, kTrailer } state_ = State::kSize;
  bool chunked_;
  std::string sizeLine_;
  size_t left_ = 0;  // bytes of the current chunk still to come
  std::string line_;
};

class EventStream {
 public:
  struct Config {
    std::chrono::milliseconds backoffMin{100};
    std::chrono::milliseconds backoffMax{5000};
    std::chrono::milliseconds connectTimeout{3000};
  };
  EventStream(std::string socketPath, std::function<void(const EngineEvent&)> onEvent,
              std::function<void(bool up)> onState, Config cfg);
  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  void start();
  void stop();
  bool connected() const { return connected_; }
  uint64_t connects() const { return connects_; }
  uint64_t events() const { return events_; }
  std::string lastError() const;

 private:
  void run();
  // One connection: returns why it ended.
  Error session();
  bool sleepFor(std::chrono::milliseconds d);  // false: stopping

  std::string path_;
  std::function<void(const EngineEvent&)> onEvent_;
  std::function<void(bool up)> onState_;
  Config cfg_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  int wakeFd_ = -1;  // eventfd: stop() interrupts a blocked read
  std::string lastError_;
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> connects_{0}, events_{0};
  std::thread thread_;
};

}  // namespace weft::engine
