// common/log: the text format as it always was, and LOG_FORMAT=json -- one
// JSON object a line, with the network/endpoint a Context names, whatever
// bytes the message holds.

#include "common/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "plugin/config.h"

using namespace weft;
using Json = nlohmann::json;

TEST(Log, TextFormatIsUnchangedAndEscapesControlCharacters) {
  EXPECT_EQ(log::formatLine(log::Format::kText, "2026-11-21T10:00:00.123Z", log::Level::kWarn, "api",
                            "bad\nline\x01"),
            "2026-11-21T10:00:00.123Z warn api: bad\\nline\\x01");
  log::Context c("net1", "ep1");  // text lines do not show it
  EXPECT_EQ(log::formatLine(log::Format::kText, "T", log::Level::kInfo, "plugin", "m"), "T info plugin: m");
}

TEST(Log, JsonLinesCarryTheFieldsAndTheContext) {
  auto line =
      log::formatLine(log::Format::kJson, "2026-11-21T10:00:00.123Z", log::Level::kError, "driver", "m");
  EXPECT_EQ(line,
            R"({"time":"2026-11-21T10:00:00.123Z","level":"error","component":"driver","message":"m"})");
  {
    log::Context outer("net1", "");
    auto j = Json::parse(log::formatLine(log::Format::kJson, "T", log::Level::kInfo, "api", "m"));
    EXPECT_EQ(j["network"], "net1");
    EXPECT_FALSE(j.contains("endpoint"));
    {
      log::Context inner("net2", "ep2");
      j = Json::parse(log::formatLine(log::Format::kJson, "T", log::Level::kInfo, "api", "m"));
      EXPECT_EQ(j["network"], "net2");
      EXPECT_EQ(j["endpoint"], "ep2");
    }
    j = Json::parse(log::formatLine(log::Format::kJson, "T", log::Level::kInfo, "api", "m"));
    EXPECT_EQ(j["network"], "net1");  // the outer one is back
    EXPECT_FALSE(j.contains("endpoint"));
  }
  auto j = Json::parse(log::formatLine(log::Format::kJson, "T", log::Level::kInfo, "api", "m"));
  EXPECT_FALSE(j.contains("network"));
}

TEST(Log, AnyMessageBytesMakeOneValidJsonLine) {
  using namespace std::string_literals;
  std::string nasty = "a\nb\r\"c\"\\d\x00\x7f\xff\xfe{}\0"s;  // NULs inside, not the end
  log::Context c("net\n\xff", "ep\"");
  auto line = log::formatLine(log::Format::kJson, "T", log::Level::kInfo, "api", nasty);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\r'), std::string::npos);
  auto j = Json::parse(line, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << line;
  EXPECT_EQ(j["message"].get<std::string>().substr(0, 9), "a\nb\r\"c\"\\d");
  EXPECT_NE(j["message"].get<std::string>().find("\xEF\xBF\xBD"), std::string::npos);  // U+FFFD for \xff
  EXPECT_EQ(j["endpoint"], "ep\"");
}

TEST(Log, FormatNamesAreTextAndJsonOnly) {
  log::Format f;
  EXPECT_TRUE(log::parseFormat("text", &f));
  EXPECT_EQ(f, log::Format::kText);
  EXPECT_TRUE(log::parseFormat("json", &f));
  EXPECT_EQ(f, log::Format::kJson);
  for (const char* bad : {"", "JSON", "logfmt", "json "}) EXPECT_FALSE(log::parseFormat(bad, &f)) << bad;
}

TEST(Log, LogFormatIsASettingRefusedWithAClearError) {
  const char* none[] = {"weft-plugin"};
  EXPECT_EQ(plugin::parseConfig(1, none, {})->logFormat, "text");
  EXPECT_EQ(plugin::parseConfig(1, none, {"WEFT_LOG_FORMAT=json"})->logFormat, "json");
  const char* flag[] = {"weft-plugin", "--log-format", "json"};
  EXPECT_EQ(plugin::parseConfig(3, flag, {"WEFT_LOG_FORMAT=text"})->logFormat, "json");  // flags win
  const char* bad[] = {"weft-plugin", "--log-format=yaml"};
  auto r = plugin::parseConfig(2, bad, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("LOG_FORMAT must be text or json, not \"yaml\""), std::string::npos)
      << r.error().message;
}
