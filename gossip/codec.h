#pragma once
// Bounds-checked big-endian byte codec for gossip messages. The reader never
// reads past its buffer: every read reports failure instead, and a failed
// reader stays failed, so decoders can read a whole structure and check once.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace weft::gossip {

class ByteWriter {
 public:
  void u8(uint8_t v) { buf_.push_back(v); }
  void u16(uint16_t v);
  void u32(uint32_t v);
  void u64(uint64_t v);
  // Strings carry a u16 length; longer strings are a programmer error (throws).
  void str(const std::string& s);
  void bytes(std::span<const uint8_t> b) { buf_.insert(buf_.end(), b.begin(), b.end()); }
  // Overwrites a u16 written earlier at `offset`.
  void patchU16(size_t offset, uint16_t v);

  size_t size() const { return buf_.size(); }
  std::vector<uint8_t>& buffer() { return buf_; }
  std::vector<uint8_t> take() { return std::move(buf_); }

 private:
  std::vector<uint8_t> buf_;
};

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> data) : data_(data) {}

  bool u8(uint8_t* v);
  bool u16(uint16_t* v);
  bool u32(uint32_t* v);
  bool u64(uint64_t* v);
  bool boolean(bool* v);
  // maxLen bounds what the caller accepts (names, addresses...).
  bool str(std::string* s, size_t maxLen = 65535);
  bool bytes(size_t n, std::span<const uint8_t>* out);
  // Reads a u16 element count and checks that at least count*minElemSize bytes
  // remain, so garbage counts cannot make callers reserve huge vectors.
  bool count(uint16_t* n, size_t minElemSize);

  bool ok() const { return ok_; }
  bool atEnd() const { return pos_ == data_.size(); }
  size_t remaining() const { return data_.size() - pos_; }
  void fail() { ok_ = false; }

 private:
  bool need(size_t n);
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace weft::gossip
