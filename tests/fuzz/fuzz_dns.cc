// libFuzzer target: weft's name responder (services/dns_message.h), which
// reads queries from any container of a network, and the engine's container
// inspect answer it learns names from (engine/engine_client.h), and the
// TCP framing (services/dns_tcp.h). Any crash or sanitizer report is a
// finding; so is a reply larger than its transport's limit (512 bytes, the
// client's EDNS size up to 1232, 65535 over TCP), or a reply to a query
// that does not carry the query's id and question.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/engine_client.h"
#include "services/dns_message.h"
#include "services/dns_tcp.h"

using namespace weft;
using namespace weft::services;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> msg(data, size);
  auto q = parseQuery(msg);
  if (q.ok()) {
    if (q->question.size() + kDnsHeader > size) std::abort();
    std::vector<IpAddr> addrs;
    for (uint8_t i = 0; i < 100; ++i) addrs.push_back(IpAddr::fromU128(i % 2 ? AF_INET6 : AF_INET, i));
    for (auto t : {Transport::kUdp, Transport::kTcp}) {
      const size_t limit = replyLimit(*q, t);
      if (limit > (t == Transport::kUdp ? kMaxUdpPayload : kMaxTcpReply) || limit < kMaxDnsMessage)
        std::abort();
      auto r = buildAnswer(*q, Rcode::kNoError, addrs, 5, limit);
      if (r.size() > limit || r.size() < kDnsHeader + q->question.size()) std::abort();
      if (r[0] != data[0] || r[1] != data[1]) std::abort();
      if (!std::equal(q->question.begin(), q->question.end(), r.begin() + kDnsHeader)) std::abort();
    }
  } else {
    auto r = errorReply(msg, Rcode::kFormErr);
    if (!r.empty() && r.size() != kDnsHeader) std::abort();
  }
  // The same bytes as a TCP stream: messages within the limit, then a
  // bad length ends it.
  DnsFrameReader frames(kMaxDnsMessage);
  frames.feed(msg);
  std::vector<uint8_t> m;
  size_t taken = 0;
  for (;;) {
    auto f = frames.next(&m);
    if (f != DnsFrameReader::Frame::kMessage) break;
    if (m.empty() || m.size() > kMaxDnsMessage) std::abort();
    taken += 2 + m.size();
  }
  if (taken > size) std::abort();
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)engine::parseContainerNames(text);
  return 0;
}
