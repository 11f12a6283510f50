#pragma once
// Internal to the IPC codec: reading the fields of one decoded JSON object
// with type, size and form checks. The first failure is kept and names the
// field; later reads are no-ops, so a decoder reads every field and then
// asks once whether the message holds.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace weft::cluster::ipc {

using Json = nlohmann::json;
using FormCheck = bool (*)(std::string_view);

class Fields {
 public:
  Fields(const Json& obj, std::string_view kind) : obj_(obj), kind_(kind) {}

  // A string of at most `max` bytes; empty only when `allowEmpty`; of the
  // form `form` when non-empty and a form is given.
  void str(const char* key, std::string* out, size_t max, bool allowEmpty, FormCheck form = nullptr);
  void u64(const char* key, uint64_t* out);
  void boolean(const char* key, bool* out);
  // An array of at most kMaxList strings, each checked as str() does.
  void strList(const char* key, std::vector<std::string>* out, size_t max, FormCheck form = nullptr);
  // An object of at most `maxEntries` string keys (each at most `maxKey`
  // bytes) to unsigned numbers.
  void counters(const char* key, std::map<std::string, uint64_t>* out, size_t maxEntries, size_t maxKey);
  // The field as a nested object or array, for the caller to read; nullptr
  // (and the failure recorded) when it is missing or of another type.
  const Json* object(const char* key);
  const Json* array(const char* key, size_t maxItems);

  // Records a failure of a check the caller made.
  void fail(const std::string& key, const std::string& why);
  bool ok() const { return error_.empty(); }
  Status status() const;

 private:
  const Json* find(const char* key, const char* type);

  const Json& obj_;
  std::string_view kind_;
  std::string error_;
};

}  // namespace weft::cluster::ipc
