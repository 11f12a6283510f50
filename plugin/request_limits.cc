#include "plugin/request_limits.h"

namespace weft::plugin {

LimitReply limitReply(RequestLimit limit) {
  switch (limit) {
    case RequestLimit::kHeaderBytes:
      return {431, "Request Header Fields Too Large",
              "request line and headers are larger than " + std::to_string(kMaxHeaderBytes >> 10) + " KiB"};
    case RequestLimit::kHeaderCount:
      return {431, "Request Header Fields Too Large",
              "request has more than " + std::to_string(kMaxHeaderCount) + " header lines"};
    case RequestLimit::kBodyBytes:
      return {413, "Payload Too Large", "request body is larger than 1 MiB"};
    case RequestLimit::kDeadline:
      return {408, "Request Timeout",
              "request was not received in full within " + std::to_string(kRequestDeadline.count()) + " s"};
    case RequestLimit::kBusy:
      return {503, "Service Unavailable",
              "weft-plugin is serving " + std::to_string(kMaxConnections) +
                  " connections and has as many waiting; try again"};
    case RequestLimit::kNone:
      break;
  }
  return {400, "Bad Request", "malformed HTTP request"};
}

}  // namespace weft::plugin
