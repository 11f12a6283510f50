#pragma once
// Wires the Api to an HTTP server: routes every POST through Api::handle,
// answers everything else (unknown paths, other methods, oversized bodies,
// malformed requests) with a JSON error body.

#include <httplib.h>

#include <atomic>

#include "plugin/api.h"

namespace weft::plugin {

// `threads`: connections served at once (kMaxConnections in weft-plugin).
// `inflight` counts requests being handled (for a graceful stop that does
// not wait on idle keep-alive connections).
void installRoutes(httplib::Server& server, Api& api, size_t threads, std::atomic<int>* inflight);

}  // namespace weft::plugin
