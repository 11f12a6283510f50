#include "cluster/ipc_fields.h"

#include "cluster/ipc_messages.h"

namespace weft::cluster::ipc {

void Fields::fail(const std::string& key, const std::string& why) {
  if (error_.empty()) error_ = std::string(kind_) + ": field \"" + key + "\" " + why;
}

Status Fields::status() const {
  if (error_.empty()) return Status::Ok();
  return Error{EBADMSG, error_};
}

const Json* Fields::find(const char* key, const char* type) {
  if (!ok()) return nullptr;
  auto it = obj_.find(key);
  if (it == obj_.end()) {
    fail(key, "is missing");
    return nullptr;
  }
  bool right = std::string_view(type) == "string"     ? it->is_string()
               : std::string_view(type) == "unsigned" ? it->is_number_unsigned()
               : std::string_view(type) == "boolean"  ? it->is_boolean()
               : std::string_view(type) == "object"   ? it->is_object()
                                                      : it->is_array();
  if (!right) {
    fail(key, std::string("is not a") + (type[0] == 'o' || type[0] == 'a' || type[0] == 'u' ? "n " : " ") +
                  type + " (it is " + it->type_name() + ")");
    return nullptr;
  }
  return &*it;
}

namespace {

// Checks one string value; returns why it is refused, or "".
std::string refuse(const std::string& s, size_t max, bool allowEmpty, FormCheck form) {
  if (s.size() > max) return "is longer than " + std::to_string(max) + " bytes";
  if (s.empty()) return allowEmpty ? "" : "is empty";
  if (form && !form(s)) return "is malformed";
  return "";
}

}  // namespace

void Fields::str(const char* key, std::string* out, size_t max, bool allowEmpty, FormCheck form) {
  const Json* v = find(key, "string");
  if (!v) return;
  const auto& s = v->get_ref<const std::string&>();
  if (auto why = refuse(s, max, allowEmpty, form); !why.empty()) return fail(key, why);
  *out = s;
}

void Fields::u64(const char* key, uint64_t* out) {
  if (const Json* v = find(key, "unsigned")) *out = v->get<uint64_t>();
}

void Fields::boolean(const char* key, bool* out) {
  if (const Json* v = find(key, "boolean")) *out = v->get<bool>();
}

const Json* Fields::object(const char* key) { return find(key, "object"); }

const Json* Fields::array(const char* key, size_t maxItems) {
  const Json* v = find(key, "array");
  if (v && v->size() > maxItems) {
    fail(key, "has more than " + std::to_string(maxItems) + " items");
    return nullptr;
  }
  return v;
}

void Fields::strList(const char* key, std::vector<std::string>* out, size_t max, FormCheck form) {
  const Json* v = array(key, kMaxList);
  if (!v) return;
  std::vector<std::string> items;
  for (const auto& item : *v) {
    if (!item.is_string()) return fail(key, "holds a non-string item");
    const auto& s = item.get_ref<const std::string&>();
    if (auto why = refuse(s, max, false, form); !why.empty()) return fail(key, "holds an item that " + why);
    items.push_back(s);
  }
  *out = std::move(items);
}

void Fields::counters(const char* key, std::map<std::string, uint64_t>* out, size_t maxEntries,
                      size_t maxKey) {
  const Json* v = object(key);
  if (!v) return;
  if (v->size() > maxEntries) return fail(key, "has more than " + std::to_string(maxEntries) + " entries");
  std::map<std::string, uint64_t> m;
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (it.key().empty() || it.key().size() > maxKey)
      return fail(key, "holds a key that is empty or too long");
    if (!it.value().is_number_unsigned()) return fail(key, "holds a value that is not an unsigned number");
    m[it.key()] = it.value().get<uint64_t>();
  }
  *out = std::move(m);
}

}  // namespace weft::cluster::ipc
