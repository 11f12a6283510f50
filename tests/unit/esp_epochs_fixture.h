#pragma once
// The clock and the state "disk" of EspEpochBook (driver/esp_epochs.h) as
// its unit tests drive them, and a fixture that opens a book on them: time moved by hand, what was written in
// order and how often, writes and reads that fail.

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "driver/esp_epochs.h"

namespace weft::driver::testing {

inline constexpr int64_t kNow = 1'800'000'000;  // unix seconds
inline const std::string kPath = "/state/esp-epochs.json";
inline const std::string kSelf = "198.18.0.1";

class FakeClock : public EspEpochClock {
 public:
  int64_t unixSeconds() override { return unix; }
  std::chrono::steady_clock::time_point steady() override { return mono; }
  void advance(std::chrono::seconds s) {
    unix += s.count();
    mono += s;
  }
  int64_t unix = kNow;
  std::chrono::steady_clock::time_point mono{std::chrono::hours(1000)};
};

// The state "disk": what was written, in order; a write can be made to fail.
class FakeFiles : public EspEpochFiles {
 public:
  Result<std::string> read(const std::string& path) override {
    if (readError) return Error{readError, "read " + path};
    auto it = disk.find(path);
    if (it == disk.end()) return Error{ENOENT, "open " + path};
    return it->second;
  }
  Status writeDurably(const std::string& path, const std::string& content) override {
    if (failWrites) return Error{EIO, "fsync " + path + ".tmp"};
    disk[path] = content;
    ++writes;
    return Status::Ok();
  }
  nlohmann::json onDisk() const { return nlohmann::json::parse(disk.at(kPath)); }
  std::map<std::string, std::string> disk;
  size_t writes = 0;
  bool failWrites = false;
  int readError = 0;
};

// A book on the fakes, opened (again, as after a restart) by the test.
class EspEpochBookTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<EspEpochBook>> open(EspEpochPolicy policy = {}) {
    return EspEpochBook::open({kPath, kSelf, policy, &clock_, &files_});
  }
  std::unique_ptr<EspEpochBook> mustOpen(EspEpochPolicy policy = {}) {
    auto b = open(policy);
    EXPECT_TRUE(b.ok()) << b.error().message;
    return b.ok() ? std::move(*b) : nullptr;
  }
  FakeClock clock_;
  FakeFiles files_;
};

}  // namespace weft::driver::testing
