#pragma once
// Leveled logging to stderr: "2026-11-21T10:00:00.123Z level component: message".
// One call is one line: control characters in the message (newlines from a
// request field, say) are written escaped (\n, \r, \t, \xNN), so nothing a
// caller sends can forge a log line.

#include <sstream>
#include <string>

namespace weft::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

bool parseLevel(const std::string& s, Level* out);
void setLevel(Level l);
Level level();
void write(Level l, const char* component, const std::string& msg);
// `msg` with its control characters (0x00-0x1f, 0x7f) escaped.
std::string escapeControlChars(const std::string& msg);

}  // namespace weft::log

#define WEFT_LOG(lvl, component, expr)                                     \
  do {                                                                     \
    if (static_cast<int>(lvl) >= static_cast<int>(::weft::log::level())) { \
      std::ostringstream weft_log_os_;                                     \
      weft_log_os_ << expr;                                                \
      ::weft::log::write(lvl, component, weft_log_os_.str());              \
    }                                                                      \
  } while (0)
#define LOG_DEBUG(c, e) WEFT_LOG(::weft::log::Level::kDebug, c, e)
#define LOG_INFO(c, e) WEFT_LOG(::weft::log::Level::kInfo, c, e)
#define LOG_WARN(c, e) WEFT_LOG(::weft::log::Level::kWarn, c, e)
#define LOG_ERROR(c, e) WEFT_LOG(::weft::log::Level::kError, c, e)
