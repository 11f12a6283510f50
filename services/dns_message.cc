#include "services/dns_message.h"

#include <algorithm>

namespace weft::services {
namespace {

uint16_t get16(std::span<const uint8_t> m, size_t at) {
  return static_cast<uint16_t>(m[at] << 8 | m[at + 1]);
}
void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v));
}

Error bad(const std::string& why) { return Error{EBADMSG, "DNS query: " + why}; }

}  // namespace

Result<DnsQuery> parseQuery(std::span<const uint8_t> msg) {
  if (msg.size() < kDnsHeader) return bad("shorter than its header");
  if (msg.size() > kMaxDnsMessage) return bad("longer than " + std::to_string(kMaxDnsMessage) + " bytes");
  DnsQuery q;
  q.id = get16(msg, 0);
  const uint16_t flags = get16(msg, 2);
  if (flags & 0x8000) return Error{EOPNOTSUPP, "DNS query: a response, not a query"};
  if (((flags >> 11) & 0xf) != 0)
    return Error{EOPNOTSUPP, "DNS query: opcode " + std::to_string((flags >> 11) & 0xf)};
  q.recursionDesired = flags & 0x0100;
  const uint16_t qd = get16(msg, 4), an = get16(msg, 6), ns = get16(msg, 8), ar = get16(msg, 10);
  if (qd != 1) return bad(std::to_string(qd) + " questions (one is served)");
  if (an != 0 || ns != 0) return bad("answer or authority records in a query");
  if (ar > 1) return bad(std::to_string(ar) + " additional records (at most one, EDNS OPT)");
  size_t at = kDnsHeader;
  std::string name;
  size_t wire = 0;
  for (;;) {
    if (at >= msg.size()) return bad("name runs past the end");
    const uint8_t len = msg[at++];
    ++wire;
    if (len == 0) break;
    if (len & 0xc0) return bad("compressed or extended label in the question");
    if (at + len > msg.size()) return bad("label runs past the end");
    wire += len;
    if (wire > 255) return bad("name longer than 255 bytes");
    if (!name.empty()) name.push_back('.');
    for (size_t i = 0; i < len; ++i) {
      char c = static_cast<char>(msg[at + i]);
      // A dot or NUL inside a label would alias another name: refused.
      if (c == '.' || c == '\0') return bad("label holds a dot or NUL");
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      name.push_back(c);
    }
    at += len;
  }
  if (at + 4 > msg.size()) return bad("question cut short");
  q.qtype = get16(msg, at);
  q.qclass = get16(msg, at + 2);
  at += 4;
  q.name = std::move(name);
  q.question.assign(msg.begin() + kDnsHeader, msg.begin() + static_cast<std::ptrdiff_t>(at));
  if (ar == 1) {
    // EDNS (RFC 6891): root name, type OPT, class = the client's UDP size,
    // TTL = extended rcode, version, flags; options are not used.
    if (at + 11 > msg.size()) return bad("additional record cut short");
    if (msg[at] != 0 || get16(msg, at + 1) != kTypeOpt)
      return bad("the additional record is not an EDNS OPT");
    const size_t rdlen = get16(msg, at + 9);
    if (at + 11 + rdlen > msg.size()) return bad("EDNS options run past the end");
    q.edns = true;
    q.udpSize = std::max<uint16_t>(get16(msg, at + 3), 512);
  }
  return q;
}

size_t replyLimit(const DnsQuery& q, Transport t) {
  if (t == Transport::kTcp) return kMaxTcpReply;
  return q.edns ? std::min<size_t>(q.udpSize, kMaxUdpPayload) : kMaxDnsMessage;
}

std::vector<uint8_t> buildAnswer(const DnsQuery& q, Rcode rcode, const std::vector<IpAddr>& addrs,
                                 uint32_t ttl, size_t limit) {
  limit = std::clamp(limit, kMaxDnsMessage, kMaxTcpReply);
  constexpr size_t kOptSize = 11;
  const size_t room = limit - (q.edns ? kOptSize : 0);  // the OPT record goes last
  std::vector<uint8_t> out;
  out.reserve(std::min(limit, kMaxUdpPayload));
  put16(out, q.id);
  // QR, AA, RD as asked; RA clear (weft answers only its own names).
  uint16_t flags = 0x8000 | 0x0400 | static_cast<uint16_t>(rcode);
  if (q.recursionDesired) flags |= 0x0100;
  put16(out, flags);
  put16(out, 1);
  put16(out, 0);  // answers: patched below
  put16(out, 0);
  put16(out, q.edns ? 1 : 0);
  out.insert(out.end(), q.question.begin(), q.question.end());
  uint16_t answers = 0;
  bool truncated = false;
  if (rcode == Rcode::kNoError && (q.qclass == kClassIn || q.qclass == kTypeAny)) {
    for (const auto& a : addrs) {
      const uint16_t type = a.isV6() ? kTypeAaaa : kTypeA;
      if (q.qtype != type && q.qtype != kTypeAny) continue;
      const size_t rr = 2 + 2 + 2 + 4 + 2 + a.size();
      if (out.size() + rr > room) {
        truncated = true;
        break;
      }
      put16(out, 0xc000 | kDnsHeader);  // the question's name
      put16(out, type);
      put16(out, kClassIn);
      put32(out, ttl);
      put16(out, static_cast<uint16_t>(a.size()));
      out.insert(out.end(), a.bytes.begin(), a.bytes.begin() + static_cast<std::ptrdiff_t>(a.size()));
      ++answers;
    }
  }
  out[6] = static_cast<uint8_t>(answers >> 8);
  out[7] = static_cast<uint8_t>(answers);
  if (truncated) out[2] |= 0x02;  // TC
  if (q.edns) {
    out.push_back(0);  // root
    put16(out, kTypeOpt);
    put16(out, static_cast<uint16_t>(kMaxUdpPayload));
    put32(out, 0);  // extended rcode 0, version 0, no flags
    put16(out, 0);  // no options
  }
  return out;
}

std::vector<uint8_t> errorReply(std::span<const uint8_t> msg, Rcode rcode) {
  if (msg.size() < kDnsHeader || (msg[2] & 0x80)) return {};
  std::vector<uint8_t> out(kDnsHeader, 0);
  out[0] = msg[0];
  out[1] = msg[1];
  // QR, the opcode and RD as asked, the rcode; no sections.
  out[2] = static_cast<uint8_t>(0x80 | (msg[2] & 0x79));
  out[3] = static_cast<uint8_t>(rcode);
  return out;
}

}  // namespace weft::services
