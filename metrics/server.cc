#include "metrics/server.h"

#include <arpa/inet.h>
#include <prometheus/exposer.h>

#include <cerrno>
#include <exception>
#include <vector>

namespace weft::metrics {

std::string ListenAddress::str() const { return (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port); }

Result<ListenAddress> parseListenAddress(const std::string& s) {
  auto bad = [&s](const std::string& why) -> Error {
    return Error{EINVAL, "\"" + s + "\" " + why + " (want ip:port, e.g. 127.0.0.1:9947 or [::1]:9947)"};
  };
  ListenAddress a;
  std::string portText;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return bad("has no ]:port after the IPv6 address");
    a.ip = s.substr(1, close - 1);
    a.v6 = true;
    portText = s.substr(close + 2);
    in6_addr v6{};
    if (inet_pton(AF_INET6, a.ip.c_str(), &v6) != 1) return bad("is not an IPv6 address in brackets");
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string::npos) return bad("has no port");
    a.ip = s.substr(0, colon);
    portText = s.substr(colon + 1);
    if (a.ip.find(':') != std::string::npos) return bad("is an IPv6 address without brackets");
    in_addr v4{};
    if (inet_pton(AF_INET, a.ip.c_str(), &v4) != 1) return bad("does not start with an IPv4 address");
  }
  if (portText.empty() || portText.size() > 5 ||
      portText.find_first_not_of("0123456789") != std::string::npos)
    return bad("has no port number");
  unsigned long port = std::stoul(portText);
  // Port 0 would listen somewhere nobody configured Prometheus to look.
  if (port < 1 || port > 65535) return bad("has a port outside 1-65535");
  a.port = static_cast<uint16_t>(port);
  return a;
}

Server::Server(std::unique_ptr<prometheus::Exposer> exposer) : exposer_(std::move(exposer)) {}
Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::start(const ListenAddress& addr) {
  std::vector<std::string> options = {"listening_ports",    addr.str(),
                                      "num_threads",        std::to_string(kServerThreads),
                                      "connection_queue",   std::to_string(kConnectionQueue),
                                      "listen_backlog",     std::to_string(kConnectionQueue),
                                      "request_timeout_ms", std::to_string(kRequestTimeoutMs),
                                      "max_request_size",   std::to_string(kMaxRequestBytes),
                                      "enable_keep_alive",  "no"};
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(options);
    return std::unique_ptr<Server>(new Server(std::move(exposer)));
  } catch (const std::exception& e) {
    // civetweb says only "null context when constructing CivetServer. Possible problem binding to port."
    return Error{EADDRNOTAVAIL,
                 "cannot listen on " + addr.str() + " (in use, or not an address of this host): " + e.what()};
  }
}

void Server::serve(const std::weak_ptr<prometheus::Collectable>& what) {
  exposer_->RegisterCollectable(what);
}

uint16_t Server::port() const {
  auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : static_cast<uint16_t>(ports.front());
}

}  // namespace weft::metrics
