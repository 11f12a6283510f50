#include "gossip/keyring.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cctype>

namespace weft::gossip {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;  // standard and URL-safe alphabets
  if (c == '/' || c == '_') return 63;
  return -1;
}

constexpr char kBase64Chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

Result<std::vector<uint8_t>> decodeBase64(std::string_view s) {
  while (!s.empty() && s.back() == '=') s.remove_suffix(1);
  std::vector<uint8_t> out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v = base64Value(c);
    if (v < 0) return Error{EINVAL, std::string("key: invalid base64 character '") + c + "'"};
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
    }
  }
  if (bits >= 6) return Error{EINVAL, "key: truncated base64"};
  return out;
}

}  // namespace

Result<Key> parseKey(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  if (text.empty()) return Error{EINVAL, "key: empty"};

  bool allHex = std::all_of(text.begin(), text.end(), [](char c) { return hexValue(c) >= 0; });
  Key key{};
  if (allHex && text.size() == 2 * kKeySize) {
    for (size_t i = 0; i < kKeySize; ++i)
      key[i] = static_cast<uint8_t>(hexValue(text[2 * i]) << 4 | hexValue(text[2 * i + 1]));
    return key;
  }
  auto bytes = decodeBase64(text);
  if (allHex && (!bytes.ok() || bytes->size() != kKeySize))
    return Error{EINVAL,
                 "key: " + std::to_string(text.size()) + " hex digits, want 64 (32 bytes for AES-256)"};
  if (!bytes.ok()) return bytes.error();
  if (bytes->size() != kKeySize)
    return Error{EINVAL, "key: decodes to " + std::to_string(bytes->size()) +
                             " bytes, want 32 (AES-256; 64 hex digits or 44 base64 characters)"};
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

std::string keyToBase64(const Key& key) {
  std::string out;
  size_t i = 0;
  for (; i + 3 <= key.size(); i += 3) {
    uint32_t v = key[i] << 16 | key[i + 1] << 8 | key[i + 2];
    for (int s = 18; s >= 0; s -= 6) out.push_back(kBase64Chars[(v >> s) & 63]);
  }
  size_t rest = key.size() - i;  // 32 % 3 == 2
  if (rest == 2) {
    uint32_t v = key[i] << 16 | key[i + 1] << 8;
    out.push_back(kBase64Chars[(v >> 18) & 63]);
    out.push_back(kBase64Chars[(v >> 12) & 63]);
    out.push_back(kBase64Chars[(v >> 6) & 63]);
    out.push_back('=');
  } else if (rest == 1) {
    uint32_t v = key[i] << 16;
    out.push_back(kBase64Chars[(v >> 18) & 63]);
    out.push_back(kBase64Chars[(v >> 12) & 63]);
    out += "==";
  }
  return out;
}

std::string keyFingerprint(const Key& key) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(key.data(), key.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 4; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

Keyring::Keyring(const Key& primary) { keys_.push_back(primary); }

void Keyring::add(const Key& key) {
  if (std::find(keys_.begin(), keys_.end(), key) == keys_.end()) keys_.push_back(key);
}

Status Keyring::use(const Key& key) {
  auto it = std::find(keys_.begin(), keys_.end(), key);
  if (it == keys_.end())
    return Error{ENOENT, "keyring: key " + keyFingerprint(key) + " is not installed; add it first"};
  std::rotate(keys_.begin(), it, it + 1);
  return Status::Ok();
}

Status Keyring::remove(const Key& key) {
  auto it = std::find(keys_.begin(), keys_.end(), key);
  if (it == keys_.end()) return Error{ENOENT, "keyring: key " + keyFingerprint(key) + " is not installed"};
  if (it == keys_.begin())
    return Error{EBUSY, "keyring: key " + keyFingerprint(key) + " is the primary key; use another key first"};
  keys_.erase(it);
  return Status::Ok();
}

}  // namespace weft::gossip
