#include "plugin/decode.h"

#include <cerrno>

#include "common/json_depth.h"

namespace weft::plugin {

namespace {
const char* typeName(const Json& v) { return v.type_name(); }

Error missing(const char* key) { return Error{EINVAL, std::string("missing field \"") + key + "\""}; }
Error wrongType(const char* key, const char* want, const Json& v) {
  return Error{EINVAL, std::string("field \"") + key + "\" must be " + want + ", got " + typeName(v)};
}
}  // namespace

Result<Json> parseBody(const std::string& body, EmptyBody empty) {
  bool blank = body.find_first_not_of(" \t\r\n") == std::string::npos;
  if (blank) {
    if (empty == EmptyBody::kAllowed) return Json::object();
    return Error{EINVAL, "request body is empty; expected a JSON object"};
  }
  if (weft::jsonDepth(body, kMaxJsonDepth) > kMaxJsonDepth)
    return Error{EINVAL, "request body nests arrays/objects more than " + std::to_string(kMaxJsonDepth) +
                             " levels deep (the most weft accepts)"};
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error{EINVAL, "request body is not valid JSON"};
  if (!j.is_object())
    return Error{EINVAL, std::string("request body must be a JSON object, got ") + typeName(j)};
  return j;
}

Result<std::string> getString(const Json& j, const char* key, Need need) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (need == Need::kRequired) return missing(key);
    return std::string();
  }
  if (!it->is_string()) return wrongType(key, "a string", *it);
  const auto& s = it->get_ref<const std::string&>();
  if (need == Need::kRequired && s.empty())
    return Error{EINVAL, std::string("field \"") + key + "\" is empty"};
  return s;
}

Result<bool> getBool(const Json& j, const char* key, Need need) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (need == Need::kRequired) return missing(key);
    return false;
  }
  if (!it->is_boolean()) return wrongType(key, "true or false", *it);
  return it->get<bool>();
}

Result<int64_t> getInt(const Json& j, const char* key, Need need) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (need == Need::kRequired) return missing(key);
    return int64_t{0};
  }
  if (!it->is_number_integer()) return wrongType(key, "an integer", *it);
  return it->get<int64_t>();
}

Result<std::map<std::string, std::string>> getStringMap(const Json& j, const char* key, Need need) {
  std::map<std::string, std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (need == Need::kRequired) return missing(key);
    return out;
  }
  if (!it->is_object()) return wrongType(key, "an object of strings", *it);
  for (auto kv = it->begin(); kv != it->end(); ++kv) {
    if (!kv.value().is_string())
      return Error{EINVAL, std::string("field \"") + key + "\" entry \"" + kv.key() +
                               "\" must be a string, got " + typeName(kv.value())};
    out.emplace(kv.key(), kv.value().get<std::string>());
  }
  return out;
}

Result<Json> getObject(const Json& j, const char* key, Need need) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (need == Need::kRequired) return missing(key);
    return Json::object();
  }
  if (!it->is_object()) return wrongType(key, "an object", *it);
  return *it;
}

Result<std::vector<driver::IpamData>> getIpamData(const Json& j, const char* key) {
  std::vector<driver::IpamData> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) return wrongType(key, "a list", *it);
  size_t i = 0;
  for (const auto& d : *it) {
    std::string where = std::string(key) + "[" + std::to_string(i++) + "]";
    if (!d.is_object()) return Error{EINVAL, "field \"" + where + "\" must be an object, got " + typeName(d)};
    driver::IpamData data;
    auto as = getString(d, "AddressSpace", Need::kOptional);
    auto pool = getString(d, "Pool", Need::kRequired);
    auto gw = getString(d, "Gateway", Need::kOptional);
    auto aux = getStringMap(d, "AuxAddresses", Need::kOptional);
    for (const Error* e : {as.ok() ? nullptr : &as.error(), pool.ok() ? nullptr : &pool.error(),
                           gw.ok() ? nullptr : &gw.error(), aux.ok() ? nullptr : &aux.error()})
      if (e) return Error{EINVAL, where + ": " + e->message};
    data.addressSpace = *as;
    data.pool = *pool;
    data.gateway = *gw;
    data.auxAddresses = *aux;
    out.push_back(std::move(data));
  }
  return out;
}

}  // namespace weft::plugin
