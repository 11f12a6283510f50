#pragma once
// cpp-httplib's server on an AF_UNIX socket (Debian's 0.11 cannot bind one
// itself): we bind and listen, hand the fd to httplib, and let it serve.
// Each connection is served through a LimitedSocketStream, so every request
// is held to request_limits.h (size of headers and body, a deadline for the
// whole request); a request past a limit is answered with a JSON error and
// its connection closed.

#include <httplib.h>

#include <string>

#include "common/result.h"
#include "plugin/request_limits.h"

namespace weft::plugin {

class UnixHttpServer : public httplib::Server {
 public:
  // Binds `path` (creating its directory; a stale socket file from an earlier
  // run is replaced, a live one is an error).
  Status bindUnix(const std::string& path, int mode = 0660);
  // Serves until stop(); returns false if serving failed.
  bool serve() { return listen_after_bind(); }

 private:
  bool process_and_close_socket(socket_t sock) override;
};

// The limit the request being served on this thread has hit (kNone when
// none, or when the thread serves no request): for the error handler.
RequestLimit currentRequestLimit();

}  // namespace weft::plugin
