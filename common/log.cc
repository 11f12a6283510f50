#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

namespace weft::log {
namespace {
std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kText};
thread_local std::string t_network, t_endpoint;
std::mutex g_mu;
const char* name(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "?";
}
}  // namespace

bool parseLevel(const std::string& s, Level* out) {
  if (s == "debug")
    *out = Level::kDebug;
  else if (s == "info")
    *out = Level::kInfo;
  else if (s == "warn" || s == "warning")
    *out = Level::kWarn;
  else if (s == "error")
    *out = Level::kError;
  else
    return false;
  return true;
}
void setLevel(Level l) { g_level = l; }
Level level() { return g_level; }

std::string escapeControlChars(const std::string& msg) {
  std::string out;
  out.reserve(msg.size());
  for (char ch : msg) {
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c != 0x7f) {
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      static const char* kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

bool parseFormat(const std::string& s, Format* out) {
  if (s == "text")
    *out = Format::kText;
  else if (s == "json")
    *out = Format::kJson;
  else
    return false;
  return true;
}
void setFormat(Format f) { g_format = f; }
Format format() { return g_format; }

Context::Context(std::string network, std::string endpoint)
    : prevNetwork_(std::move(t_network)), prevEndpoint_(std::move(t_endpoint)) {
  t_network = std::move(network);
  t_endpoint = std::move(endpoint);
}
Context::~Context() {
  t_network = std::move(prevNetwork_);
  t_endpoint = std::move(prevEndpoint_);
}

std::string formatLine(Format f, const std::string& time, Level l, const char* component,
                       const std::string& msg) {
  if (f == Format::kText) return time + " " + name(l) + " " + component + ": " + escapeControlChars(msg);
  nlohmann::ordered_json j = {{"time", time}, {"level", name(l)}, {"component", component}, {"message", msg}};
  if (!t_network.empty()) j["network"] = t_network;
  if (!t_endpoint.empty()) j["endpoint"] = t_endpoint;
  // Replace, not throw, on bytes that are not UTF-8 (they may come from a request).
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void write(Level l, const char* component, const std::string& msg) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto t = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[40];
  size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(ts + n, sizeof ts - n, ".%03dZ", static_cast<int>(ms));
  std::string line = formatLine(g_format, ts, l, component, msg);
  std::lock_guard<std::mutex> lk(g_mu);
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}
}  // namespace weft::log
