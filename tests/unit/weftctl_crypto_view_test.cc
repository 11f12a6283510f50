// weftctl crypto's tables (weftctl/crypto_view.h) on plugin answers as JSON.

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "weftctl/crypto_view.h"

namespace weft::weftctl {
namespace {

using Json = nlohmann::json;

std::string render(const Json& j) {
  std::ostringstream out;
  printCrypto(j, out);
  return out.str();
}

// The line of `text` that starts with `start` ("" when none).
std::string lineStarting(const std::string& text, const std::string& start) {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (l.rfind(start, 0) == 0) return l;
  return "";
}

// The cells of a table line (columns are separated by two or more spaces).
std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == ' ' && i + 1 < line.size() && line[i + 1] == ' ') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
      ++i;
      continue;
    }
    if (!(line[i] == ' ' && cur.empty())) cur += line[i];
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// The kernel backend on, the userspace datapath off: what a host with ESP
// and no userspace peers shows.
Json kernelOnly() {
  return Json::parse(R"({
    "backend": "off", "reason": "no userspace pairs",
    "selection": {"kernelEsp": true, "kernelOff": "",
      "kernelEpochs": {"epoch": 5, "ageSeconds": 12, "rotateEverySeconds": 3600, "file": "/s/esp-epochs.json",
                       "peers": {"198.18.0.3": {"in": [7, 8]}, "198.18.0.4": {"in": [1]}}},
      "networks": [{"network": "net-a", "crypto": "kernel",
                    "peers": [{"host": "198.18.0.3", "backend": "kernel", "why": "both have ESP"}]}]},
    "kernel": {"peers": [{"peer": "198.18.0.3", "outEpoch": 5, "previousOut": null, "inEpochs": [7, 8],
                          "outSpi": 4660}]}
  })");
}

// The epoch book's peers (a host that knows a peer's epochs before the
// plane has ESP with it) each get a row; the book's JSON is read from a
// value that outlives the loop over it.
TEST(WeftctlCryptoView, KernelPairsListTheEpochBooksPeersAndThePlanes) {
  const std::string out = render(kernelOnly());
  EXPECT_NE(out.find("encrypted networks: off (no userspace pairs)"), std::string::npos) << out;
  EXPECT_NE(out.find("kernel ESP: this host's key epoch 5, key age 12 s"), std::string::npos) << out;
  const auto planePeer = cells(lineStarting(out, "198.18.0.3"));
  ASSERT_GE(planePeer.size(), 4u) << out;
  EXPECT_EQ(planePeer[1], "5");
  EXPECT_EQ(planePeer[2], "7,8");
  EXPECT_EQ(planePeer[3], "4660");
  const auto bookOnly = cells(lineStarting(out, "198.18.0.4"));
  ASSERT_GE(bookOnly.size(), 4u) << out;
  EXPECT_EQ(bookOnly[1], "-");
  EXPECT_EQ(bookOnly[2], "1");
}

// The kernel pairs' traffic under the userspace table's column names, from
// the JSON keys both backends use; "-" where the plane could not read the
// kernel's counters, and for a peer only the epoch book knows.
TEST(WeftctlCryptoView, KernelPairsShowTheirTrafficInTheUserspaceTablesColumns) {
  Json j = kernelOnly();
  Json& p = j["kernel"]["peers"][0];
  p["sealedPackets"] = 11, p["sealedBytes"] = 1100, p["openedPackets"] = 12, p["openedBytes"] = 1200;
  p["authFailed"] = 1, p["replayed"] = 2;
  j["kernel"]["peers"].push_back(
      {{"peer", "198.18.0.5"}, {"outEpoch", 5}, {"previousOut", 4}, {"inEpochs", {3}}, {"outSpi", 1}});
  const std::string out = render(j);
  const auto head = cells(lineStarting(out, "PEER  "));
  EXPECT_EQ(head, (std::vector<std::string>{"PEER", "OUT EPOCH", "IN EPOCHS", "OUT SPI", "TX PKTS",
                                            "TX BYTES", "RX PKTS", "RX BYTES", "AUTH FAIL", "REPLAYED"}))
      << out;
  EXPECT_EQ(
      cells(lineStarting(out, "198.18.0.3")),
      (std::vector<std::string>{"198.18.0.3", "5", "7,8", "4660", "11", "1100", "12", "1200", "1", "2"}))
      << out;
  EXPECT_EQ(
      cells(lineStarting(out, "198.18.0.5")),
      (std::vector<std::string>{"198.18.0.5", "5 (previous 4)", "3", "1", "-", "-", "-", "-", "-", "-"}))
      << out;
  EXPECT_EQ(cells(lineStarting(out, "198.18.0.4")),
            (std::vector<std::string>{"198.18.0.4", "-", "1", "-", "-", "-", "-", "-", "-", "-"}))
      << out;
  EXPECT_NE(out.find("takes its counts with it"), std::string::npos) << out;
}

}  // namespace
}  // namespace weft::weftctl
