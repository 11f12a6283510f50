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
  EXPECT_EQ(r[2] & 0x02, 0x02);  // TC: some were left out
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

namespace {

// The query with an EDNS OPT record offering `udpSize` (and `rdlen` bytes of options).
std::vector<uint8_t> ednsQuery(const std::string& name, uint16_t type, uint16_t udpSize, uint16_t rdlen = 0) {
  auto m = query(name, type);
  m[11] = 1;  // ARCOUNT
  m.insert(m.end(), {0, 0, 41, static_cast<uint8_t>(udpSize >> 8), static_cast<uint8_t>(udpSize), 0, 0, 0, 0,
                     static_cast<uint8_t>(rdlen >> 8), static_cast<uint8_t>(rdlen)});
  m.insert(m.end(), rdlen, 0);
  return m;
}

std::vector<IpAddr> v4s(int n) {
  std::vector<IpAddr> out;
  for (int i = 0; i < n; ++i)
    out.push_back(IpAddr::fromU128(AF_INET, 0x0a000000u + static_cast<unsigned>(i)));
  return out;
}

}  // namespace

TEST(DnsMessage, WhatDoesNotFitAUdpReplySetsTcAndTcpTakesItAll) {
  auto q = parseQuery(query("svc", kTypeA));
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(q->edns);
  EXPECT_EQ(replyLimit(*q, Transport::kUdp), 512u);
  // 30 A records fit in 512 bytes: no TC.
  auto fits = buildAnswer(*q, Rcode::kNoError, v4s(30), 5, replyLimit(*q, Transport::kUdp));
  EXPECT_EQ(u16(fits, 6), 30);
  EXPECT_EQ(fits[2] & 0x02, 0);
  // 31 do not: TC, and the 30 that fit.
  auto cut = buildAnswer(*q, Rcode::kNoError, v4s(31), 5, replyLimit(*q, Transport::kUdp));
  EXPECT_LE(cut.size(), 512u);
  EXPECT_EQ(u16(cut, 6), 30);
  EXPECT_EQ(cut[2] & 0x02, 0x02);
  // Over TCP all of them, no TC.
  EXPECT_EQ(replyLimit(*q, Transport::kTcp), kMaxTcpReply);
  auto all = buildAnswer(*q, Rcode::kNoError, v4s(1000), 5, replyLimit(*q, Transport::kTcp));
  EXPECT_EQ(u16(all, 6), 1000);
  EXPECT_EQ(all[2] & 0x02, 0);
  // Even TCP has an end: 65535 bytes, then TC.
  auto huge = buildAnswer(*q, Rcode::kNoError, v4s(5000), 5, replyLimit(*q, Transport::kTcp));
  EXPECT_LE(huge.size(), kMaxTcpReply);
  EXPECT_EQ(u16(huge, 6), (kMaxTcpReply - 12 - 9) / 16);
  EXPECT_EQ(huge[2] & 0x02, 0x02);
}

TEST(DnsMessage, TheClientsEdnsSizeIsUsedUpToAMaximumAndAnsweredWithAnOptRecord) {
  auto q = parseQuery(ednsQuery("svc", kTypeA, 4096));
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_TRUE(q->edns);
  EXPECT_EQ(q->udpSize, 4096);
  EXPECT_EQ(replyLimit(*q, Transport::kUdp), kMaxUdpPayload);  // capped
  auto r = buildAnswer(*q, Rcode::kNoError, v4s(100), 5, replyLimit(*q, Transport::kUdp));
  EXPECT_LE(r.size(), kMaxUdpPayload);
  EXPECT_EQ(u16(r, 6), (kMaxUdpPayload - 12 - 9 - 11) / 16);
  EXPECT_EQ(r[2] & 0x02, 0x02);
  EXPECT_EQ(u16(r, 10), 1);  // the OPT record, last
  const size_t opt = r.size() - 11;
  EXPECT_EQ(r[opt], 0);
  EXPECT_EQ(u16(r, opt + 1), kTypeOpt);
  EXPECT_EQ(u16(r, opt + 3), kMaxUdpPayload);
  // A smaller offer is honoured; one below 512 counts as 512.
  auto q1000 = parseQuery(ednsQuery("svc", kTypeA, 1000));
  EXPECT_EQ(replyLimit(*q1000, Transport::kUdp), 1000u);
  auto q100 = parseQuery(ednsQuery("svc", kTypeA, 100));
  EXPECT_EQ(replyLimit(*q100, Transport::kUdp), 512u);
  // Options are skipped; a REFUSED carries the OPT record too.
  auto withOptions = parseQuery(ednsQuery("svc", kTypeA, 1232, 12));
  ASSERT_TRUE(withOptions.ok());
  auto refused = buildAnswer(*withOptions, Rcode::kRefused, {}, 0);
  EXPECT_EQ(u16(refused, 10), 1);
  EXPECT_EQ(refused.size(), 12u + 9u + 11u);
}

TEST(DnsMessage, AnAdditionalRecordThatIsNoGoodOptIsMalformed) {
  auto notOpt = ednsQuery("svc", kTypeA, 1232);
  notOpt[12 + 9 + 2] = 1;  // type A instead of OPT
  EXPECT_EQ(parseQuery(notOpt).error().code, EBADMSG);
  auto named = ednsQuery("svc", kTypeA, 1232);
  named[12 + 9] = 3;  // not the root name
  EXPECT_EQ(parseQuery(named).error().code, EBADMSG);
  auto optionsPastEnd = ednsQuery("svc", kTypeA, 1232, 4);
  optionsPastEnd.resize(optionsPastEnd.size() - 1);
  EXPECT_EQ(parseQuery(optionsPastEnd).error().code, EBADMSG);
  auto full = ednsQuery("svc", kTypeA, 1232);
  for (size_t n = 12 + 9; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(n));
    EXPECT_FALSE(parseQuery(cut).ok()) << n;
  }
}
