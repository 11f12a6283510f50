#pragma once
// The channel between weft-plugin and its weft-gossip child: a
// SOCK_SEQPACKET socketpair (the child gets it as a file descriptor), one
// JSON object per message.
//
// plugin -> gossip
//   {"op":"config","id":..,"bind":"ip:port","advertise":"ip:port","label":..,
//    "keys":[base64,...] (first = primary),"seeds":["ip:port",...]}   first message
//   {"op":"publish","network":..,"endpoint":..,"ipv4":..,"ipv6":..,"mac":..}
//   {"op":"withdraw","network":..,"endpoint":..}
//   {"op":"seeds","seeds":[...]}          join through more seeds
//   {"op":"status"}
// gossip -> plugin
//   {"event":"ready","id":..,"keyFingerprint":..}
//   {"event":"record","active":bool,"network":..,"endpoint":..,"ipv4":..,
//    "ipv6":..,"mac":..,"vtep":..,"owner":..}
//   {"event":"status",...}
//   {"event":"error","message":..}         fatal; the process exits after it

#include <string>

#include "common/result.h"

namespace weft::gossip {

inline constexpr size_t kMaxIpcMessage = 1 << 20;

Status ipcSend(int fd, const std::string& msg);
// Blocking receive of one message; ECONNRESET when the peer is gone.
Result<std::string> ipcRecv(int fd);

}  // namespace weft::gossip
