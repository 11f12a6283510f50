#pragma once
// What one HTTP request to weft-plugin may cost, and how a request past a
// limit is answered. The socket is reachable by every local process that can
// reach /run/docker/plugins, so every read is bounded in bytes and in time.

#include <chrono>
#include <cstddef>
#include <string>

namespace weft::plugin {

// Request line and headers together.
inline constexpr size_t kMaxHeaderBytes = 64 << 10;  // 64 KiB
// Header lines (Docker sends ~5).
inline constexpr size_t kMaxHeaderCount = 100;
// A body as it comes over the wire, chunked framing included: the decoded
// body is held to kMaxBodyBytes (api.h, 1 MiB), this stops a chunked body
// (or a declared Content-Length) from being read past it.
inline constexpr size_t kMaxBodyWireBytes = (1 << 20) + (64 << 10);  // 1 MiB + 64 KiB
// From the moment a request's first byte can be read to its last byte
// (headers and body): a client that trickles its request is cut off.
inline constexpr std::chrono::seconds kRequestDeadline{5};
// Connections served at once, each by its own thread, so that slow clients
// hold only their own thread ...
inline constexpr size_t kMaxConnections = 64;
// ... and connections accepted while all are busy, waiting for a thread;
// past that, a new connection is answered 503 at once and closed.
inline constexpr size_t kMaxWaitingConnections = 64;

enum class RequestLimit { kNone, kHeaderBytes, kHeaderCount, kBodyBytes, kDeadline, kBusy };

struct LimitReply {
  int status;
  const char* reason;  // the status line's text
  std::string message;
};
// The HTTP status and message a request past `limit` is answered with.
LimitReply limitReply(RequestLimit limit);

}  // namespace weft::plugin
