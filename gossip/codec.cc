#include "gossip/codec.h"

#include <stdexcept>

namespace weft::gossip {

void ByteWriter::u16(uint16_t v) {
  buf_.push_back(static_cast<uint8_t>(v >> 8));
  buf_.push_back(static_cast<uint8_t>(v));
}
void ByteWriter::u32(uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) buf_.push_back(static_cast<uint8_t>(v >> s));
}
void ByteWriter::u64(uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) buf_.push_back(static_cast<uint8_t>(v >> s));
}
void ByteWriter::str(const std::string& s) {
  if (s.size() > 65535) throw std::length_error("ByteWriter::str: string longer than 65535");
  u16(static_cast<uint16_t>(s.size()));
  buf_.insert(buf_.end(), s.begin(), s.end());
}
void ByteWriter::patchU16(size_t offset, uint16_t v) {
  buf_.at(offset) = static_cast<uint8_t>(v >> 8);
  buf_.at(offset + 1) = static_cast<uint8_t>(v);
}

bool ByteReader::need(size_t n) {
  if (!ok_ || data_.size() - pos_ < n) {
    ok_ = false;
    return false;
  }
  return true;
}
bool ByteReader::u8(uint8_t* v) {
  if (!need(1)) return false;
  *v = data_[pos_++];
  return true;
}
bool ByteReader::u16(uint16_t* v) {
  if (!need(2)) return false;
  *v = static_cast<uint16_t>(data_[pos_] << 8 | data_[pos_ + 1]);
  pos_ += 2;
  return true;
}
bool ByteReader::u32(uint32_t* v) {
  if (!need(4)) return false;
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) r = r << 8 | data_[pos_ + i];
  pos_ += 4;
  *v = r;
  return true;
}
bool ByteReader::u64(uint64_t* v) {
  if (!need(8)) return false;
  uint64_t r = 0;
  for (int i = 0; i < 8; ++i) r = r << 8 | data_[pos_ + i];
  pos_ += 8;
  *v = r;
  return true;
}
bool ByteReader::boolean(bool* v) {
  uint8_t b = 0;
  if (!u8(&b)) return false;
  if (b > 1) {
    ok_ = false;
    return false;
  }
  *v = b == 1;
  return true;
}
bool ByteReader::str(std::string* s, size_t maxLen) {
  uint16_t n = 0;
  if (!u16(&n)) return false;
  if (n > maxLen || !need(n)) {
    ok_ = false;
    return false;
  }
  s->assign(reinterpret_cast<const char*>(data_.data() + pos_), n);
  pos_ += n;
  return true;
}
bool ByteReader::bytes(size_t n, std::span<const uint8_t>* out) {
  if (!need(n)) return false;
  *out = data_.subspan(pos_, n);
  pos_ += n;
  return true;
}
bool ByteReader::count(uint16_t* n, size_t minElemSize) {
  if (!u16(n)) return false;
  if (static_cast<size_t>(*n) * minElemSize > remaining()) {
    ok_ = false;
    return false;
  }
  return true;
}

}  // namespace weft::gossip
