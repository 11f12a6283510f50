#pragma once
// A small HTTP/1.1 client over a unix stream socket with keep-alive, for
// weftctl, tests and benchmarks (Debian's cpp-httplib client cannot dial
// AF_UNIX), and for weft-plugin's reads of the Docker engine's API (bounded:
// a response larger than maxBody, or one that does not arrive within the
// timeout, is an error). One instance is one connection; not thread-safe.

#include <string>

#include "common/result.h"

namespace weft {

struct HttpResponse {
  int status = 0;
  std::string contentType;
  std::string body;
};

class UnixHttpClient {
 public:
  // timeoutMs bounds each wait for data; maxBody bounds a response's body
  // (EMSGSIZE beyond it) and its header block (16 KiB).
  explicit UnixHttpClient(std::string socketPath, int timeoutMs = 5000, size_t maxBody = 64u << 20);
  ~UnixHttpClient();
  UnixHttpClient(const UnixHttpClient&) = delete;
  UnixHttpClient& operator=(const UnixHttpClient&) = delete;

  // POSTs `body` to `path`; reconnects once if the kept-alive connection was
  // closed by the server.
  Result<HttpResponse> post(const std::string& path, const std::string& body);
  // GETs `path` (same reconnect rule as post).
  Result<HttpResponse> get(const std::string& path);
  // Sends raw bytes and reads one response (for tests of malformed requests).
  Result<HttpResponse> raw(const std::string& request);
  void close();

 private:
  Status connect();
  Result<HttpResponse> roundTrip(const std::string& request);
  Result<HttpResponse> readResponse();
  Result<std::string> readChunked();
  Status fill();

  std::string path_;
  int timeoutMs_;
  size_t maxBody_;
  int fd_ = -1;
  std::string buf_;
};

}  // namespace weft
