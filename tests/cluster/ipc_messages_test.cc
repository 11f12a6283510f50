// The IPC protocol: every message survives its one encoder and decoder, and
// the decoders refuse (never throw on) what a compromised sidecar could send.

#include "cluster/ipc_messages.h"

#include <gtest/gtest.h>

#include <string>

using namespace weft;
using namespace weft::cluster::ipc;

namespace {

const Record kRecord{"subnet:10.10.0.0/24", std::string(64, 'e'), "10.10.0.2/24",
                     "fd00::2/64",          "02:42:0a:0a:00:02",  "198.18.0.2"};

// m through its encoder and `decode`: the same message comes back.
template <class Variant, class T>
void roundTrip(const T& m, Result<Variant> (*decode)(std::string_view)) {
  auto d = decode(encode(Variant{m}));
  ASSERT_TRUE(d.ok()) << d.error().message;
  ASSERT_TRUE(std::holds_alternative<T>(*d));
  EXPECT_EQ(std::get<T>(*d), m);
}
template <class T>
void roundTripToSidecar(const T& m) {
  roundTrip<ToSidecar>(m, decodeToSidecar);
}
template <class T>
void roundTripFromSidecar(const T& m) {
  roundTrip<FromSidecar>(m, decodeFromSidecar);
}

// A record event as JSON text with one field replaced by `value` (raw JSON),
// or removed when value is empty.
std::string recordWith(const std::string& field, const std::string& value) {
  std::string out = "{\"event\":\"record\"";
  const std::pair<const char*, std::string> fields[] = {
      {"active", "true"},
      {"owner", "\"198.18.0.2\""},
      {"network", "\"subnet:10.10.0.0/24\""},
      {"endpoint", "\"" + std::string(64, 'e') + "\""},
      {"ipv4", "\"10.10.0.2/24\""},
      {"ipv6", "\"\""},
      {"mac", "\"02:42:0a:0a:00:02\""},
      {"vtep", "\"198.18.0.2\""},
  };
  for (const auto& [k, v] : fields) {
    if (k == field && value.empty()) continue;
    out += ",\"" + std::string(k) + "\":" + (k == field ? value : v);
  }
  return out + "}";
}

}  // namespace

TEST(IpcMessages, EveryMessageSurvivesItsEncoderAndDecoder) {
  roundTripToSidecar(ConfigMsg{"198.18.0.1",
                               "198.18.0.1:7947",
                               "198.18.0.1:7947",
                               "weft",
                               {"a2V5MQ==", "a2V5Mg=="},
                               {"198.18.0.2:7947", "[fd00::3]:7947"}});
  roundTripToSidecar(PublishMsg{kRecord});
  roundTripToSidecar(StartMsg{});
  roundTripToSidecar(WithdrawMsg{"name:blue", std::string(64, 'f')});
  roundTripToSidecar(SeedsMsg{{"198.18.0.9:7947"}});
  roundTripToSidecar(StatusRequest{});
  roundTripToSidecar(PingMsg{0});
  roundTripToSidecar(PingMsg{UINT64_MAX});
  roundTripFromSidecar(ReadyEvent{"198.18.0.1", "0badc0de"});
  roundTripFromSidecar(RecordEvent{true, kRecord, "198.18.0.2"});
  roundTripFromSidecar(RecordEvent{false, kRecord, "198.18.0.2"});
  roundTripFromSidecar(StatusEvent{"198.18.0.1",
                                   4,
                                   "0badc0de",
                                   {{"198.18.0.1", "198.18.0.1:7947", "alive", 3}},
                                   {"subnet:10.10.0.0/24"},
                                   {{"198.18.0.66", 12}},
                                   {{"packetsSent", 7}, {"forged", 1}},
                                   2,
                                   {},
                                   ""});
  roundTripFromSidecar(ErrorEvent{"cannot drop privileges"});
  roundTripFromSidecar(PongEvent{42});
}

TEST(IpcMessages, LivenessMessagesCarryANumber) {
  EXPECT_FALSE(decodeFromSidecar(R"({"event":"pong"})").ok());
  EXPECT_FALSE(decodeFromSidecar(R"({"event":"pong","seq":"7"})").ok());
  EXPECT_FALSE(decodeFromSidecar(R"({"event":"pong","seq":-1})").ok());
  EXPECT_FALSE(decodeToSidecar(R"({"op":"ping","seq":[1]})").ok());
  auto pong = decodeFromSidecar(R"({"event":"pong","seq":7})");
  ASSERT_TRUE(pong.ok()) << pong.error().message;
  EXPECT_EQ(std::get<PongEvent>(*pong).seq, 7u);
}

TEST(IpcMessages, ValidRecordTemplateDecodes) {
  // The refusals below differ from this only in the field they name.
  auto d = decodeFromSidecar(recordWith("", ""));
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_TRUE(std::get<RecordEvent>(*d).active);
}

TEST(IpcMessages, RecordsOfTheWrongShapeAreRefused) {
  const std::pair<std::string, std::string> bad[] = {
      {"active", "\"yes\""},                             // wrong JSON type (aborted weft-plugin before)
      {"active", ""},                                    // missing
      {"network", "42"},                                 // wrong type
      {"network", "\"" + std::string(300, 'n') + "\""},  // oversized
      {"network", "\"subnet:10.10.0.0/24\\nforged log line\""},
      {"endpoint", "\"../../etc\""},  // not an id
      {"endpoint", "\"" + std::string(200, 'e') + "\""},
      {"ipv4", "\"10.10.0.300/24\""},  // bad address
      {"ipv4", "\"10.10.0.2\""},       // not a CIDR
      {"ipv4", "\"fd00::2/64\""},      // wrong family
      {"ipv6", "[\"fd00::2/64\"]"},
      {"mac", "\"02:42:0a:0a:00\""},
      {"mac", "\"\""},  // an active record must be programmable
      {"vtep", "\"198.18.0.256\""},
      {"vtep", "null"},
      {"owner", "{}"},
  };
  for (const auto& [field, value] : bad) {
    auto d = decodeFromSidecar(recordWith(field, value));
    EXPECT_FALSE(d.ok()) << field << "=" << value;
    if (!d.ok()) {
      EXPECT_NE(d.error().message.find(field), std::string::npos) << d.error().message;
    }
  }
}

TEST(IpcMessages, MessagesThatAreNotMessagesAreRefused) {
  const std::string bad[] = {
      "",
      "not json",
      "[1,2,3]",
      "{\"event\":\"record\"",
      "{\"event\":17}",
      "{\"event\":\"reboot\"}",
      "{\"op\":\"publish\"}",
      std::string(100000, '[') + std::string(100000, ']'),  // deep nesting: no stack overflow
      "{\"event\":\"status\",\"id\":\"x\",\"aloneSeconds\":-1,\"keyFingerprint\":\"\",\"members\":[],"
      "\"networks\":[],\"authFailuresByHost\":{},\"stats\":{},\"restarts\":0}",
      "{\"event\":\"status\",\"id\":\"x\",\"aloneSeconds\":1.5,\"keyFingerprint\":\"\",\"members\":[],"
      "\"networks\":[],\"authFailuresByHost\":{},\"stats\":{},\"restarts\":0}",
      "{\"event\":\"status\",\"id\":\"x\",\"aloneSeconds\":1,\"keyFingerprint\":\"\",\"members\":[7],"
      "\"networks\":[],\"authFailuresByHost\":{},\"stats\":{},\"restarts\":0}",
      "{\"event\":\"ready\",\"id\":\"a\\u0000b\",\"keyFingerprint\":\"\"}",
  };
  for (const auto& text : bad) {
    auto d = decodeFromSidecar(text);
    EXPECT_FALSE(d.ok()) << text.substr(0, 80);
  }
}

// refusedBy and authProblem came after the first typed status: they travel,
// they are bounded, and a status without them still decodes.
TEST(IpcMessages, StatusCarriesWhoRefusesThisHostAndWhy) {
  StatusEvent s{"198.18.0.3", 4, "ab12", {}, {}, {}, {}, 0, {}, ""};
  s.refusedBy = {{"198.18.0.1:7947", 3}};
  s.authProblem =
      "this host cannot authenticate with any other host: its streams are refused by 198.18.0.1:7947";
  auto d = decodeFromSidecar(encode(FromSidecar{s}));
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(std::get<StatusEvent>(*d), s);
  EXPECT_TRUE(
      decodeFromSidecar("{\"event\":\"status\",\"id\":\"x\",\"aloneSeconds\":1,\"keyFingerprint\":\"\","
                        "\"members\":[],\"networks\":[],\"authFailuresByHost\":{},\"stats\":{},"
                        "\"restarts\":0}")
          .ok());
  s.authProblem = std::string(kMaxText + 1, 'x');
  EXPECT_FALSE(decodeFromSidecar(encode(FromSidecar{s})).ok());
  s.authProblem.clear();
  for (size_t i = 0; i <= kMaxList; ++i) s.refusedBy["198.19.0." + std::to_string(i) + ":7947"] = 1;
  EXPECT_FALSE(decodeFromSidecar(encode(FromSidecar{s})).ok());
}

TEST(IpcMessages, LongListsAreRefused) {
  StatusEvent s{"198.18.0.1", 0, "", {}, {}, {}, {}, 0, {}, ""};
  for (size_t i = 0; i <= kMaxList; ++i) s.authFailuresByHost["198.19." + std::to_string(i)] = 1;
  EXPECT_FALSE(decodeFromSidecar(encode(FromSidecar{s})).ok());
  s.authFailuresByHost.erase(s.authFailuresByHost.begin());
  EXPECT_TRUE(decodeFromSidecar(encode(FromSidecar{s})).ok());
}

TEST(IpcMessages, AWithdrawalNeedsOnlyItsKey) {
  auto d =
      decodeFromSidecar(encode(FromSidecar{RecordEvent{false, {"name:blue", "abc", "", "", "", ""}, ""}}));
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_FALSE(std::get<RecordEvent>(*d).active);
}

TEST(IpcMessages, EncodingTextThatIsNotUtf8DoesNotThrow) {
  // Record fields reach the sidecar from other hosts.
  Record r = kRecord;
  r.network = "name:\xff\xfe";
  std::string text;
  EXPECT_NO_THROW(text = encode(FromSidecar{RecordEvent{true, r, "x"}}));
  EXPECT_TRUE(decodeFromSidecar(text).ok());
}

TEST(IpcMessages, TheConfigurationNeedsAKeyAndAddresses) {
  ConfigMsg c{"198.18.0.1", "198.18.0.1:7947", "198.18.0.1:7947", "weft", {"a2V5"}, {}};
  EXPECT_TRUE(decodeToSidecar(encode(ToSidecar{c})).ok());
  auto noKey = c;
  noKey.keys.clear();
  EXPECT_FALSE(decodeToSidecar(encode(ToSidecar{noKey})).ok());
  auto badBind = c;
  badBind.bind = "198.18.0.1";
  EXPECT_FALSE(decodeToSidecar(encode(ToSidecar{badBind})).ok());
  auto badSeed = c;
  badSeed.seeds = {"198.18.0.2:99999"};
  EXPECT_FALSE(decodeToSidecar(encode(ToSidecar{badSeed})).ok());
}

TEST(IpcMessages, FieldForms) {
  EXPECT_TRUE(validHostPort("198.18.0.1:7947"));
  EXPECT_TRUE(validHostPort("[fd00::1]:7947"));
  EXPECT_FALSE(validHostPort("fd00::1:7947"));
  EXPECT_FALSE(validHostPort("198.18.0.1:0"));
  EXPECT_FALSE(validHostPort("host:7947"));
  EXPECT_TRUE(validCidr("10.0.0.1/32", false));
  EXPECT_FALSE(validCidr("10.0.0.1/33", false));
  EXPECT_TRUE(validCidr("fd00::1/128", true));
  EXPECT_FALSE(validCidr("fd00::1/129", true));
  EXPECT_FALSE(validCidr("10.0.0.1/", false));
  EXPECT_TRUE(validMac("02:42:AC:11:00:02"));
  EXPECT_FALSE(validMac("02-42-ac-11-00-02"));
  EXPECT_TRUE(validIp("fd00::1"));
  EXPECT_FALSE(validIp(" 10.0.0.1"));
}
