#pragma once
// The /metrics HTTP endpoint: prometheus-cpp's Exposer (civetweb) on one
// address, with its resources bounded -- weft-plugin runs with host
// networking and privileges, so the listener is one explicit address (never
// "all interfaces" unless the operator writes 0.0.0.0) with a fixed, small
// number of threads and a short queue.

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"

namespace prometheus {
class Collectable;
class Exposer;
}  // namespace prometheus

namespace weft::metrics {

// METRICS_ADDR: "ip:port" or "[ipv6]:port", the IP written out (no host
// name, no bare port: where it listens must be visible in the setting).
struct ListenAddress {
  std::string ip;  // without brackets
  uint16_t port = 0;
  bool v6 = false;
  std::string str() const;  // as civetweb's listening_ports wants it
};
Result<ListenAddress> parseListenAddress(const std::string& s);

// Limits of the server. Scrapes are rare (every 15-60 s per Prometheus) and
// each is answered from memory plus one status request to the sidecar
// (at most 2 s): two threads serve them; more connections
// wait in a short queue, and a connection that sends nothing is dropped.
inline constexpr int kServerThreads = 2;
inline constexpr int kConnectionQueue = 8;
inline constexpr int kRequestTimeoutMs = 10000;
inline constexpr int kMaxRequestBytes = 8192;

class Server {
 public:
  // Listens on `addr` at once; an error (address in use, not local, ...)
  // says which address and why.
  static Result<std::unique_ptr<Server>> start(const ListenAddress& addr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves `what` at /metrics (held weakly: gone, it serves nothing).
  void serve(const std::weak_ptr<prometheus::Collectable>& what);
  uint16_t port() const;

 private:
  explicit Server(std::unique_ptr<prometheus::Exposer> exposer);
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace weft::metrics
