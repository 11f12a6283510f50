#pragma once
// Strict decoding of Docker's JSON requests: every failure names the field
// and what was expected. Go encodes nil maps and slices as null, so null is
// "absent" for optional maps, lists and strings.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"
#include "driver/driver.h"

namespace weft::plugin {

using Json = nlohmann::json;

enum class Need { kRequired, kOptional };

// The deepest nesting of arrays and objects a request body may have. Docker's
// requests nest at most 4 levels; a limit keeps a hostile body from building
// (and recursively copying or destroying) a tree deep enough to overflow the
// stack. Checked on the text, before any tree is built.
inline constexpr size_t kMaxJsonDepth = 64;

// Whether a call may come with an empty body (argument-less calls do).
enum class EmptyBody { kRefused, kAllowed };

// Parses a request body. An empty body is {} when kAllowed, an error
// otherwise; the top level must be a JSON object nesting at most
// kMaxJsonDepth levels.
Result<Json> parseBody(const std::string& body, EmptyBody empty);

Result<std::string> getString(const Json& j, const char* key, Need need);
Result<bool> getBool(const Json& j, const char* key, Need need);
Result<int64_t> getInt(const Json& j, const char* key, Need need);
// A JSON object whose values are all strings.
Result<std::map<std::string, std::string>> getStringMap(const Json& j, const char* key, Need need);
// A JSON object (any values); null/absent -> empty object when optional.
Result<Json> getObject(const Json& j, const char* key, Need need);
Result<std::vector<driver::IpamData>> getIpamData(const Json& j, const char* key);

}  // namespace weft::plugin
