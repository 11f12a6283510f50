#include "plugin/http_service.h"

#include <chrono>

#include "common/log.h"
#include "plugin/connection_pool.h"
#include "plugin/unix_server.h"

namespace weft::plugin {

void installRoutes(httplib::Server& server, Api& api, size_t threads, std::atomic<int>* inflight) {
  server.new_task_queue = [threads] { return new ConnectionPool(threads, kMaxWaitingConnections); };
  server.set_payload_max_length(kMaxBodyBytes);
  server.set_keep_alive_max_count(1000000);
  server.set_keep_alive_timeout(5);
  server.set_read_timeout(10, 0);
  server.set_write_timeout(10, 0);
  server.Post(R"(/.*)", [&api, inflight](const httplib::Request& req, httplib::Response& res) {
    struct Count {
      std::atomic<int>* n;
      explicit Count(std::atomic<int>* c) : n(c) { ++*n; }
      ~Count() { --*n; }
    } count(inflight);
    auto t0 = std::chrono::steady_clock::now();
    ApiReply r = api.handle(req.path, req.body);
    LOG_DEBUG("http", req.path << " " << r.status << " in "
                               << std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::steady_clock::now() - t0)
                                      .count()
                               << " us");
    res.status = r.status;
    res.set_content(r.body, kContentType);
  });
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    std::string msg;
    if (auto limit = currentRequestLimit(); limit != RequestLimit::kNone) {
      auto r = limitReply(limit);  // httplib saw only a failed read
      res.status = r.status;
      res.set_header("Connection", "close");
      res.set_content(Api::errorBody(req.path, r.message), kContentType);
      return;
    }
    switch (res.status) {
      case 404:
        msg = "weft does not implement " + req.method + " " + req.path;
        break;
      case 413:
        msg = limitReply(RequestLimit::kBodyBytes).message;
        break;
      case 400:
        msg = "malformed HTTP request";
        break;
      default:
        msg = "HTTP error " + std::to_string(res.status);
        break;
    }
    res.set_content(Api::errorBody(req.path, msg), kContentType);
  });
}

}  // namespace weft::plugin
