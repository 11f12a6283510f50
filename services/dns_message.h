#pragma once
// The DNS wire format (RFC 1035), as much as weft's name responder needs:
// decoding one query and building its answer. Queries come from any
// container of a network, so decoding is strictly bounded: a message of at
// most kMaxDnsMessage bytes, exactly one question whose name is read label
// by label (no compression pointers: a query has nothing to point back to),
// at most one additional record (EDNS OPT, ignored), no answer or authority
// records. Anything else is an error naming what was wrong, never a read
// past the end.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/result.h"

namespace weft::services {

inline constexpr size_t kMaxDnsMessage = 512;  // UDP without EDNS: all weft reads or writes
inline constexpr size_t kDnsHeader = 12;
inline constexpr uint16_t kTypeA = 1, kTypeAaaa = 28, kTypeAny = 255;
inline constexpr uint16_t kClassIn = 1;

enum class Rcode : uint8_t { kNoError = 0, kFormErr = 1, kServFail = 2, kNxDomain = 3, kNotImp = 4, kRefused = 5 };

struct DnsQuery {
  uint16_t id = 0;
  bool recursionDesired = false;
  std::string name;  // lower case, without the final dot; "" for the root
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  std::vector<uint8_t> question;  // the question section as it came (echoed in the answer)
};

// EBADMSG: malformed (answer FORMERR if at least the header came, see
// errorReply); EOPNOTSUPP: a well-formed message weft does not serve (a
// response, another opcode: answer NOTIMP).
Result<DnsQuery> parseQuery(std::span<const uint8_t> msg);

// The answer to `q`: rcode, and for kNoError one A or AAAA record per
// address of q's type (others are skipped), in the given order, as many as
// fit in kMaxDnsMessage (the rest are left out: a client takes the first
// anyway, and the order rotates per query). Authoritative: the name is
// weft's.
std::vector<uint8_t> buildAnswer(const DnsQuery& q, Rcode rcode, const std::vector<IpAddr>& addrs, uint32_t ttl);

// A header-only reply (rcode, no sections) to a message that could not be
// decoded; empty when not even the header (12 bytes) came or it is itself a
// response (never answer an answer).
std::vector<uint8_t> errorReply(std::span<const uint8_t> msg, Rcode rcode);

}  // namespace weft::services
