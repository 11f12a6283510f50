// The DNS wire codec of weft's name responder (services/dns_message.h):
// queries as glibc and Docker's resolver send them, and malformed ones.
#include "services/dns_message.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace weft;
using namespace weft::services;

namespace {

// A query as a stub resolver writes it: id, RD, one question.
std::vector<uint8_t> query(const std::string& name, uint16_t type, uint16_t id = 0x1234,
                           uint16_t flags = 0x0100) {
  std::vector<uint8_t> m = {static_cast<uint8_t>(id >> 8),
                            static_cast<uint8_t>(id),
                            static_cast<uint8_t>(flags >> 8),
                            static_cast<uint8_t>(flags),
                            0,
                            1,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0};
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    m.push_back(static_cast<uint8_t>(dot - start));
    m.insert(m.end(), name.begin() + static_cast<long>(start), name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  m.push_back(0);
  m.insert(m.end(), {static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type), 0, 1});
  return m;
}

uint16_t u16(const std::vector<uint8_t>& m, size_t at) {
  return static_cast<uint16_t>(m[at] << 8 | m[at + 1]);
}

}  // namespace

TEST(DnsMessage, ParsesAQueryInLowerCase) {
  auto q = parseQuery(query("Web.Svc", kTypeA));
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->id, 0x1234);
  EXPECT_TRUE(q->recursionDesired);
  EXPECT_EQ(q->name, "web.svc");
  EXPECT_EQ(q->qtype, kTypeA);
  EXPECT_EQ(q->qclass, kClassIn);
}

TEST(DnsMessage, AnswersAAndAaaaRecordsOfTheAskedTypeOnly) {
  auto q = parseQuery(query("web", kTypeA));
  ASSERT_TRUE(q.ok());
  std::vector<IpAddr> addrs = {*IpAddr::parse("10.0.0.2"), *IpAddr::parse("fd00::2"),
                               *IpAddr::parse("10.0.0.3")};
  auto r = buildAnswer(*q, Rcode::kNoError, addrs, 5);
  EXPECT_EQ(u16(r, 0), 0x1234);
  EXPECT_EQ(u16(r, 2), 0x8500);  // QR, AA, RD; NOERROR
  EXPECT_EQ(u16(r, 4), 1);
  EXPECT_EQ(u16(r, 6), 2);  // the two A records
  // header 12 + question (5 + 4) + 2 * 16
  ASSERT_EQ(r.size(), 12u + 9u + 32u);
  EXPECT_EQ(u16(r, 21), 0xc00c);
  EXPECT_EQ(u16(r, 23), kTypeA);
  EXPECT_EQ(std::vector<uint8_t>(r.begin() + 33, r.begin() + 37), (std::vector<uint8_t>{10, 0, 0, 2}));
  EXPECT_EQ(std::vector<uint8_t>(r.end() - 4, r.end()), (std::vector<uint8_t>{10, 0, 0, 3}));

  auto q6 = parseQuery(query("web", kTypeAaaa));
  auto r6 = buildAnswer(*q6, Rcode::kNoError, addrs, 5);
  EXPECT_EQ(u16(r6, 6), 1);
  EXPECT_EQ(r6.size(), 12u + 9u + 28u);
}

TEST(DnsMessage, ManyAddressesAreCutToFit512Bytes) {
  auto q = parseQuery(query("svc", kTypeA));
  std::vector<IpAddr> addrs;
  for (int i = 0; i < 100; ++i)
    addrs.push_back(IpAddr::fromU128(AF_INET, 0x0a000000u + static_cast<unsigned>(i)));
  auto r = buildAnswer(*q, Rcode::kNoError, addrs, 5);
  EXPECT_LE(r.size(), kMaxDnsMessage);
  EXPECT_EQ(u16(r, 6), (kMaxDnsMessage - 12 - 9) / 16);
}

TEST(DnsMessage, RefusedCarriesTheQuestionAndNoAnswer) {
  auto q = parseQuery(query("example.com", kTypeA));
  auto r = buildAnswer(*q, Rcode::kRefused, {*IpAddr::parse("10.0.0.2")}, 5);
  EXPECT_EQ(r[3] & 0xf, 5);
  EXPECT_EQ(u16(r, 6), 0);
  EXPECT_EQ(r.size(), 12u + 13u + 4u);
}

TEST(DnsMessage, MalformedQueriesAreErrorsNeverReadsPastTheEnd) {
  auto full = query("web", kTypeA);
  // Every truncation of a good query is refused.
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(n));
    EXPECT_FALSE(parseQuery(cut).ok()) << n;
  }
  auto twoQuestions = full;
  twoQuestions[5] = 2;
  EXPECT_EQ(parseQuery(twoQuestions).error().code, EBADMSG);
  auto withAnswer = full;
  withAnswer[7] = 1;
  EXPECT_EQ(parseQuery(withAnswer).error().code, EBADMSG);
  auto pointer = full;
  pointer[12] = 0xc0;
  EXPECT_EQ(parseQuery(pointer).error().code, EBADMSG);
  auto dotInLabel = query("ab", kTypeA);
  dotInLabel[14] = '.';
  EXPECT_EQ(parseQuery(dotInLabel).error().code, EBADMSG);
  std::vector<uint8_t> oversized(kMaxDnsMessage + 1, 0);
  EXPECT_EQ(parseQuery(oversized).error().code, EBADMSG);
  // A name of more than 255 bytes on the wire.
  std::string longName;
  for (int i = 0; i < 5; ++i) longName += std::string(60, 'a') + ".";
  longName.pop_back();
  EXPECT_EQ(parseQuery(query(longName, kTypeA)).error().code, EBADMSG);
}

TEST(DnsMessage, ResponsesAndOtherOpcodesAreNotServed) {
  EXPECT_EQ(parseQuery(query("web", kTypeA, 1, 0x8100)).error().code, EOPNOTSUPP);
  EXPECT_EQ(parseQuery(query("web", kTypeA, 1, 0x2800)).error().code, EOPNOTSUPP);  // UPDATE
  // errorReply: never to a response, never without a header.
  EXPECT_TRUE(errorReply(query("web", kTypeA, 1, 0x8100), Rcode::kFormErr).empty());
  EXPECT_TRUE(errorReply(std::vector<uint8_t>(11, 0), Rcode::kFormErr).empty());
  auto r = errorReply(query("web", kTypeA, 0xbeef), Rcode::kNotImp);
  ASSERT_EQ(r.size(), 12u);
  EXPECT_EQ(u16(r, 0), 0xbeef);
  EXPECT_EQ(r[2] & 0x80, 0x80);
  EXPECT_EQ(r[3] & 0xf, 4);
}
