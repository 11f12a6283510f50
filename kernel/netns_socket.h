#pragma once
// A socket that lives in another network namespace: created by a
// short-lived thread that entered the namespace (setns is per thread), then
// used from any thread -- a socket stays in the namespace it was made in.
// weft's name responder listens this way inside each network's sandbox.

#include <cstdint>
#include <string>

#include "common/ip.h"
#include "common/result.h"
#include "kernel/fd.h"

namespace weft::kernel {

// A non-blocking UDP socket bound to addr:port in the namespace whose file
// is nsPath. ENOENT when the namespace file is not a live namespace; the
// bind's errno otherwise (EADDRNOTAVAIL: the address is not in it).
Result<Fd> bindUdpInNetns(const std::string& nsPath, const IpAddr& addr, uint16_t port);
// The same for a non-blocking TCP socket listening on addr:port (backlog
// `backlog`; accepted sockets live in that namespace too).
Result<Fd> listenTcpInNetns(const std::string& nsPath, const IpAddr& addr, uint16_t port, int backlog);

}  // namespace weft::kernel
