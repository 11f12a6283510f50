#pragma once
// cpp-httplib's server on an AF_UNIX socket (Debian's 0.11 cannot bind one
// itself): we bind and listen, hand the fd to httplib, and let it serve.

#include <httplib.h>

#include <string>

#include "common/result.h"

namespace weft::plugin {

class UnixHttpServer : public httplib::Server {
 public:
  // Binds `path` (creating its directory; a stale socket file from an earlier
  // run is replaced, a live one is an error).
  Status bindUnix(const std::string& path, int mode = 0660);
  // Serves until stop(); returns false if serving failed.
  bool serve() { return listen_after_bind(); }
};

}  // namespace weft::plugin
