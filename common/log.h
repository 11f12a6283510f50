#pragma once
// Leveled logging to stderr, one call one line, in one of two formats:
// * text (the default): "2026-11-21T10:00:00.123Z level component: message";
//   control characters in the message (newlines from a request field, say)
//   are written escaped (\n, \r, \t, \xNN), so nothing a caller sends can
//   forge a log line;
// * json (LOG_FORMAT=json): one JSON object per line, {"time", "level",
//   "component", "message"} and "network"/"endpoint" when the line concerns
//   one (a log::Context is open on the thread); JSON's own escaping keeps it
//   one line, and bytes that are not UTF-8 are replaced (U+FFFD).

#include <sstream>
#include <string>

namespace weft::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kText, kJson };

bool parseLevel(const std::string& s, Level* out);
void setLevel(Level l);
Level level();
bool parseFormat(const std::string& s, Format* out);  // "text" | "json"
void setFormat(Format f);
Format format();
void write(Level l, const char* component, const std::string& msg);
// One line as `f` writes it (write() adds the time of now).
std::string formatLine(Format f, const std::string& time, Level l, const char* component,
                       const std::string& msg);

// What the lines logged on this thread concern while it lives (nested:
// the innermost wins, and the outer one is back when it ends). Empty
// fields are left out.
class Context {
 public:
  Context(std::string network, std::string endpoint);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

 private:
  std::string prevNetwork_, prevEndpoint_;
};
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
