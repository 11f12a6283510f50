#include "gossip/messages.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "gossip/codec.h"

namespace weft::gossip {
namespace {

EndpointRecord sampleRecord(int i) {
  EndpointRecord r;
  r.network = "net-" + std::to_string(i % 3);
  r.endpoint = "ep-" + std::to_string(i);
  r.ipv4 = "10.0.0." + std::to_string(i) + "/24";
  r.ipv6 = i % 2 ? "fd00::" + std::to_string(i) + "/64" : "";
  r.mac = "02:42:0a:00:00:0" + std::to_string(i % 10);
  r.vtep = "198.18.0." + std::to_string(i);
  r.owner = "node-" + std::to_string(i % 5);
  r.version = 1000 + i;
  r.deleted = i % 4 == 0;
  return r;
}

std::vector<Message> everyKind() {
  NetworkDigest d{{"node-1", {5, 0xdeadbeef}}, {"node-2", {7, 42}}};
  Sync s;
  s.reply = true;
  s.addr = "10.0.0.1:7947";
  s.members = {{"node-1", "10.0.0.1:7947", 3, MemberState::kAlive},
               {"node-2", "10.0.0.2:7947", 9, MemberState::kDead}};
  s.networks = {{"node-1", 77, {"a", "b"}}};
  s.records = {sampleRecord(1), sampleRecord(2)};
  s.want = {"a"};
  return {Ping{1, "node-2"},
          IndirectPing{2, "node-3", "10.0.0.3:7947"},
          Ack{3},
          Nack{4},
          Alive{"node-1", "10.0.0.1:7947", 12},
          Suspect{"node-2", 13, "node-1"},
          Dead{"node-3", 14, "node-3"},
          Networks{"node-1", 99, {"x", "y", "z"}},
          RecordUpdate{sampleRecord(4)},
          DigestSummary{0x1234, {{"a", 1}, {"b", 2}}},
          DigestDetail{true, {{"a", d}}},
          s};
}

TEST(Messages, EveryKindRoundTrips) {
  Envelope e{"node-1", 123456789, 42, everyKind()};
  auto bytes = encodeEnvelope(e);
  auto back = decodeEnvelope(bytes);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->sender, "node-1");
  EXPECT_EQ(back->epoch, 123456789u);
  EXPECT_EQ(back->seq, 42u);
  ASSERT_EQ(back->messages.size(), e.messages.size());
  for (size_t i = 0; i < e.messages.size(); ++i) EXPECT_TRUE(back->messages[i] == e.messages[i]) << i;
}

TEST(Messages, AFramedMessageNamesItsKindForCounting) {
  auto all = everyKind();
  ASSERT_EQ(all.size(), kMessageTypes);
  std::set<std::string> names;
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].index(), i);
    EXPECT_EQ(framedMessageType(encodeMessage(all[i])), i) << messageTypeName(i);
    names.insert(messageTypeName(i));
  }
  EXPECT_EQ(names.size(), kMessageTypes);  // distinct label values
  EXPECT_EQ(std::string(messageTypeName(0)), "ping");
  EXPECT_EQ(std::string(messageTypeName(kMessageTypes - 1)), "sync");
  EXPECT_EQ(std::string(messageTypeName(kMessageTypes)), "unknown");
  const uint8_t unknown[] = {0x7f, 0, 0}, longSync[] = {0x80 | 12, 0, 0, 0, 0}, none[] = {0};
  EXPECT_EQ(framedMessageType(unknown), kMessageTypes);
  EXPECT_EQ(framedMessageType(none), kMessageTypes);
  EXPECT_EQ(framedMessageType({}), kMessageTypes);
  EXPECT_EQ(framedMessageType(longSync), kMessageTypes - 1);  // a long frame keeps its kind
}

TEST(Messages, LargeSyncUsesLongFrame) {
  Sync s;
  for (int i = 0; i < 2000; ++i) s.records.push_back(sampleRecord(i));
  Envelope e{"n", 1, 1, {s}};
  auto bytes = encodeEnvelope(e);
  ASSERT_GT(bytes.size(), 65535u);
  auto back = decodeEnvelope(bytes);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(back->messages[0] == Message(s));
}

TEST(Messages, UnknownTypesAreSkipped) {
  auto bytes = encodeEnvelopeHeader("n", 1, 1, 2);
  ByteWriter w;
  w.u8(77);  // a future message type
  w.u16(3);
  w.bytes(std::vector<uint8_t>{1, 2, 3});
  auto known = encodeMessage(Ack{9});
  bytes.insert(bytes.end(), w.buffer().begin(), w.buffer().end());
  bytes.insert(bytes.end(), known.begin(), known.end());
  auto back = decodeEnvelope(bytes);
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->messages.size(), 1u);
  EXPECT_TRUE(back->messages[0] == Message(Ack{9}));
}

TEST(Messages, EveryTruncationIsRejected) {
  Envelope e{"node-1", 1, 2, everyKind()};
  auto bytes = encodeEnvelope(e);
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = decodeEnvelope(std::span<const uint8_t>(bytes.data(), n));
    EXPECT_FALSE(r.ok()) << "prefix of " << n << " bytes decoded";
  }
}

TEST(Messages, TrailingBytesRejected) {
  auto bytes = encodeEnvelope(Envelope{"n", 1, 1, {Ack{1}}});
  bytes.push_back(0);
  EXPECT_FALSE(decodeEnvelope(bytes).ok());
}

TEST(Messages, HugeCountsDoNotAllocate) {
  // count = 65535 members but no bytes behind it.
  ByteWriter body;
  body.u8(0);
  body.str("a");
  body.u16(65535);
  auto bytes = encodeEnvelopeHeader("n", 1, 1, 1);
  ByteWriter frame;
  frame.u8(12);  // Sync
  frame.u16(static_cast<uint16_t>(body.size()));
  frame.bytes(body.buffer());
  bytes.insert(bytes.end(), frame.buffer().begin(), frame.buffer().end());
  auto r = decodeEnvelope(bytes);
  EXPECT_FALSE(r.ok());
}

TEST(Messages, InvalidEnumsAndBoolsRejected) {
  Sync s;
  s.members = {{"a", "b", 1, MemberState::kAlive}};
  auto bytes = encodeEnvelope(Envelope{"n", 1, 1, {s}});
  // The member state byte is the last byte before the three empty counts (6 bytes).
  bytes[bytes.size() - 7] = 9;
  EXPECT_FALSE(decodeEnvelope(bytes).ok());

  auto rec = encodeEnvelope(Envelope{"n", 1, 1, {RecordUpdate{sampleRecord(1)}}});
  rec.back() = 2;  // deleted flag must be 0 or 1
  EXPECT_FALSE(decodeEnvelope(rec).ok());
}

TEST(Messages, OverlongNamesRejected) {
  auto bytes = encodeEnvelope(Envelope{std::string(300, 'x'), 1, 1, {}});
  EXPECT_FALSE(decodeEnvelope(bytes).ok());
}

TEST(Messages, RandomGarbageAndMutationsNeverCrash) {
  std::mt19937_64 rng(7);
  auto valid = encodeEnvelope(Envelope{"node-1", 1, 2, everyKind()});
  size_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> buf;
    if (i % 2 == 0) {
      buf.resize(rng() % 200);
      for (auto& b : buf) b = static_cast<uint8_t>(rng());
    } else {
      buf = valid;
      for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k)
        buf[rng() % buf.size()] = static_cast<uint8_t>(rng());
    }
    auto r = decodeEnvelope(buf);
    if (r.ok()) {
      ++accepted;
      // Whatever decodes must re-encode to something that decodes the same.
      auto again = decodeEnvelope(encodeEnvelope(*r));
      ASSERT_TRUE(again.ok());
      ASSERT_EQ(again->messages.size(), r->messages.size());
    }
  }
  EXPECT_LT(accepted, 20000u);
}

TEST(ByteReader, FailedReaderStaysFailed) {
  std::vector<uint8_t> b{0, 1};
  ByteReader r(b);
  uint32_t v = 0;
  EXPECT_FALSE(r.u32(&v));
  uint8_t x = 0;
  EXPECT_FALSE(r.u8(&x));
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace weft::gossip
