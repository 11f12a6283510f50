#pragma once
// Dialling a unix stream socket (the Docker engine's API, weft-plugin's own
// socket): shared by the request/response client (common/unix_http_client.h)
// and the engine's event stream (engine/event_stream.h), which keeps its
// connection open for as long as the engine sends.

#include <string>

#include "common/result.h"

namespace weft {

// A blocking, close-on-exec stream socket connected to `path`, for the
// caller to close; ENAMETOOLONG for a path longer than sockaddr_un holds,
// else the errno of socket(2) or connect(2).
Result<int> connectUnixStream(const std::string& path);

}  // namespace weft
