#pragma once
// Durable driver state: one JSON document written atomically (temp file,
// fsync, rename, fsync dir) before Docker is told a change succeeded.
// Concurrent changes share writes (group commit): a caller waits until a
// write that includes its change is on disk.

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json_fwd.hpp>

#include "common/result.h"

namespace weft::driver {

inline constexpr int kStateFormatVersion = 1;

class StateStore {
 public:
  explicit StateStore(std::string path) : path_(std::move(path)) {}

  const std::string& path() const { return path_; }

  // Reads the state file. Absent: nullopt (first start). Unreadable,
  // corrupt or of an unknown version: an Error naming the file; the file is
  // left untouched and must not be overwritten.
  Result<std::optional<nlohmann::json>> load();

  // A snapshot of the current state as text, and the change number it covers.
  using Snapshot = std::function<std::pair<std::string, uint64_t>()>;

  // Makes change number `seq` durable (group commit).
  Status persist(uint64_t seq, const Snapshot& snapshot);

  uint64_t writes() const { return writes_; }

 private:
  std::string path_;
  std::mutex writeMu_;
  uint64_t durableSeq_ = 0;  // guarded by writeMu_
  uint64_t writes_ = 0;      // guarded by writeMu_
};

}  // namespace weft::driver
