#pragma once
// The channel between weft-plugin and its weft-gossip child: a
// SOCK_SEQPACKET socketpair (the child gets its end as a file descriptor),
// one message per datagram. What the messages say is cluster/ipc_messages.h.

#include <string>
#include <string_view>

#include "common/result.h"

namespace weft::cluster::ipc {

// The largest message either side accepts. Senders keep theirs far below
// (a SOCK_SEQPACKET datagram must also fit the socket's send buffer, ~200 KiB
// by default): lists that grow with the cluster travel as many messages.
inline constexpr size_t kMaxMessage = 1 << 20;

enum class SendMode {
  kBlocking,     // waits for room in the socket buffer
  kNonBlocking,  // EAGAIN when the peer does not read (e.g. it is stopped)
};

Status send(int fd, std::string_view msg, SendMode mode = SendMode::kBlocking);
// Blocking receive of one message; ECONNRESET when the peer is gone.
Result<std::string> recv(int fd);

}  // namespace weft::cluster::ipc
