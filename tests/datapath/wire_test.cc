#include "datapath/wire.h"

#include <gtest/gtest.h>

#include <vector>

namespace weft::datapath {
namespace {

std::vector<uint8_t> packetWith(const Header& h, size_t bodySize) {
  std::vector<uint8_t> p(kHeaderSize + bodySize + kTagSize, 0xee);
  encodeHeader(h, std::span<uint8_t, kHeaderSize>(p.data(), kHeaderSize));
  return p;
}

TEST(DatapathWire, HeaderBytesAreBigEndianInTheDocumentedOrder) {
  Header h{.flags = kFlagBatch,
           .vni = 0x123456,
           .senderId = 0xc6120001,
           .keyEpoch = 0x01020304,
           .sequence = 0x1122334455667788};
  std::array<uint8_t, kHeaderSize> out{};
  encodeHeader(h, out);
  const std::array<uint8_t, kHeaderSize> want{1,    0x01, 0,    0,    0,    0x12, 0x34, 0x56,
                                              0xc6, 0x12, 0,    1,    0x01, 0x02, 0x03, 0x04,
                                              0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
  EXPECT_EQ(out, want);
}

TEST(DatapathWire, HeaderRoundTrips) {
  Header h{.flags = 0, .vni = kMaxVni, .senderId = 7, .keyEpoch = 0xffffffff, .sequence = ~uint64_t{0}};
  auto p = packetWith(h, 14);
  Header got;
  ASSERT_EQ(decodeHeader(p, &got), HeaderError::kNone);
  EXPECT_EQ(got, h);
}

TEST(DatapathWire, SizesOutsideTheLimitsAreRefused) {
  Header h{.sequence = 1};
  auto p = packetWith(h, 0);
  Header got;
  EXPECT_EQ(decodeHeader(p, &got), HeaderError::kNone);  // header + tag, empty body: smallest parseable
  EXPECT_EQ(decodeHeader(std::span(p).first(kOverhead - 1), &got), HeaderError::kTruncated);
  EXPECT_EQ(decodeHeader({}, &got), HeaderError::kTruncated);
  auto big = packetWith(h, kMaxPacketSize - kOverhead);
  EXPECT_EQ(decodeHeader(big, &got), HeaderError::kNone);
  big.push_back(0);
  EXPECT_EQ(decodeHeader(big, &got), HeaderError::kTooBig);
}

TEST(DatapathWire, UnknownVersionFlagsReservedBitsVniAndSequenceZeroAreRefused) {
  Header h{.vni = 1, .sequence = 1};
  Header got;
  auto p = packetWith(h, 20);
  p[0] = 2;
  EXPECT_EQ(decodeHeader(p, &got), HeaderError::kBadVersion);
  for (size_t byte : {1, 2, 3, 4}) {
    auto q = packetWith(h, 20);
    q[byte] = byte == 1 ? 0x02 : 0x80;
    EXPECT_EQ(decodeHeader(q, &got), HeaderError::kBadHeader) << "byte " << byte;
  }
  auto zero = packetWith(Header{.vni = 1, .sequence = 0}, 20);
  EXPECT_EQ(decodeHeader(zero, &got), HeaderError::kBadHeader);
}

std::vector<uint8_t> frame(size_t n, uint8_t fill) { return std::vector<uint8_t>(n, fill); }

TEST(DatapathWire, SingleFrameIsTheWholePlaintext) {
  auto f = frame(60, 1);
  std::vector<std::span<const uint8_t>> frames;
  ASSERT_EQ(parseInner(0, f, &frames), InnerError::kNone);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].size(), 60u);
  EXPECT_EQ(parseInner(0, frame(kMinFrameSize - 1, 0), &frames), InnerError::kFrameSize);
  EXPECT_EQ(parseInner(0, frame(kMaxFrameSize + 1, 0), &frames), InnerError::kFrameSize);
  EXPECT_EQ(parseInner(0, frame(kMaxFrameSize, 0), &frames), InnerError::kNone);
}

TEST(DatapathWire, BatchRoundTripsThroughEncodeAndParse) {
  auto a = frame(14, 0xa), b = frame(1500, 0xb), c = frame(kMaxFrameSize, 0xc);
  std::vector<std::span<const uint8_t>> in{a, b, c};
  const size_t n = innerSize(in);
  ASSERT_EQ(n, 14 + 1500 + kMaxFrameSize + 3 * kBatchLengthSize);
  std::vector<uint8_t> buf(n);
  const uint8_t flags = encodeInner(in, buf);
  EXPECT_EQ(flags, kFlagBatch);
  std::vector<std::span<const uint8_t>> out;
  ASSERT_EQ(parseInner(flags, buf, &out), InnerError::kNone);
  ASSERT_EQ(out.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_TRUE(std::equal(in[i].begin(), in[i].end(), out[i].begin(), out[i].end()));
}

TEST(DatapathWire, BatchLimitsAreEnforcedOnBothSides) {
  auto f = frame(20, 1);
  std::vector<std::span<const uint8_t>> max(kMaxBatchFrames, f), over(kMaxBatchFrames + 1, f);
  EXPECT_GT(innerSize(max), 0u);
  EXPECT_EQ(innerSize(over), 0u);
  EXPECT_EQ(innerSize({}), 0u);
  auto small = frame(13, 1);
  std::vector<std::span<const uint8_t>> bad{f, small};
  EXPECT_EQ(innerSize(bad), 0u);

  std::vector<uint8_t> buf(innerSize(max));
  encodeInner(max, buf);
  std::vector<std::span<const uint8_t>> out;
  EXPECT_EQ(parseInner(kFlagBatch, buf, &out), InnerError::kNone);
  EXPECT_EQ(out.size(), kMaxBatchFrames);
  // One frame more than allowed, hand-built (the encoder refuses to).
  buf.insert(buf.end(), {0, 20});
  buf.insert(buf.end(), f.begin(), f.end());
  EXPECT_EQ(parseInner(kFlagBatch, buf, &out), InnerError::kTooManyFrames);
}

TEST(DatapathWire, MalformedBatchesAreRefused) {
  std::vector<std::span<const uint8_t>> out;
  EXPECT_EQ(parseInner(kFlagBatch, {}, &out), InnerError::kEmpty);
  std::vector<uint8_t> lone{0};  // half a length
  EXPECT_EQ(parseInner(kFlagBatch, lone, &out), InnerError::kTruncated);
  std::vector<uint8_t> runsPast{0, 20, 1, 2, 3};
  EXPECT_EQ(parseInner(kFlagBatch, runsPast, &out), InnerError::kTruncated);
  std::vector<uint8_t> zeroLength{0, 0};
  EXPECT_EQ(parseInner(kFlagBatch, zeroLength, &out), InnerError::kFrameSize);
}

}  // namespace
}  // namespace weft::datapath
