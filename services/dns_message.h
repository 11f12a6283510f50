#pragma once
// The DNS wire format (RFC 1035), as much as weft's name responder needs:
// decoding one query and building its answer. Queries come from any
// container of a network, so decoding is strictly bounded: a message of at
// most kMaxDnsMessage bytes, exactly one question whose name is read label
// by label (no compression pointers: a query has nothing to point back to),
// at most one additional record (EDNS OPT: its UDP size is read), no answer
// or authority records. Anything else is an error naming what was wrong,
// never a read past the end.
//
// Replies fit the transport: over UDP 512 bytes, or the size the client's
// EDNS OPT offers (at most kMaxUdpPayload); over TCP (RFC 7766, two-byte
// length framing) kMaxTcpReply. What does not fit is left out and the reply
// says so (TC): a stub resolver then asks again over TCP.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/result.h"

namespace weft::services {

// A query is read up to this size on either transport (one question of at
// most 255 bytes and an OPT record need far less); also the UDP reply size
// without EDNS (RFC 1035).
inline constexpr size_t kMaxDnsMessage = 512;
// The largest UDP reply, whatever a client's EDNS offers: the size that
// passes without fragmentation on common paths (DNS flag day 2020); also
// what weft's OPT record offers.
inline constexpr size_t kMaxUdpPayload = 1232;
// The largest reply over TCP: the two-byte length's limit.
inline constexpr size_t kMaxTcpReply = 65535;
inline constexpr size_t kDnsHeader = 12;
inline constexpr uint16_t kTypeA = 1, kTypeAaaa = 28, kTypeOpt = 41, kTypeAny = 255;
inline constexpr uint16_t kClassIn = 1;

enum class Rcode : uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5
};

struct DnsQuery {
  uint16_t id = 0;
  bool recursionDesired = false;
  std::string name;  // lower case, without the final dot; "" for the root
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  std::vector<uint8_t> question;  // the question section as it came (echoed in the answer)
  bool edns = false;              // an OPT record came (the reply carries one too)
  uint16_t udpSize = 512;         // the client's UDP payload size (OPT class), at least 512
};

enum class Transport { kUdp, kTcp };
// The largest reply to `q` over `t`.
size_t replyLimit(const DnsQuery& q, Transport t);

// EBADMSG: malformed (answer FORMERR if at least the header came, see
// errorReply); EOPNOTSUPP: a well-formed message weft does not serve (a
// response, another opcode: answer NOTIMP).
Result<DnsQuery> parseQuery(std::span<const uint8_t> msg);

// The answer to `q`: rcode, and for kNoError one A or AAAA record per
// address of q's type (others are skipped), in the given order, as many as
// fit in `limit` bytes (at least kMaxDnsMessage); when some are left out,
// TC is set so that the client may ask over TCP. An OPT record (offering
// kMaxUdpPayload) when the query had one. Authoritative: the name is weft's.
std::vector<uint8_t> buildAnswer(const DnsQuery& q, Rcode rcode, const std::vector<IpAddr>& addrs,
                                 uint32_t ttl, size_t limit = kMaxDnsMessage);

// A header-only reply (rcode, no sections) to a message that could not be
// decoded; empty when not even the header (12 bytes) came or it is itself a
// response (never answer an answer).
std::vector<uint8_t> errorReply(std::span<const uint8_t> msg, Rcode rcode);

}  // namespace weft::services
