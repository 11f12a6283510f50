#pragma once
// Wires the Api to an HTTP server: routes every POST through Api::handle,
// answers everything else (unknown paths, other methods, oversized bodies,
// malformed requests) with a JSON error body.

#include <httplib.h>

#include "plugin/api.h"

namespace weft::plugin {

void installRoutes(httplib::Server& server, Api& api, size_t threads);

}  // namespace weft::plugin
