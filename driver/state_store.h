#pragma once
// Durable driver state: one JSON document written atomically (temp file,
// fsync, rename, fsync dir) before Docker is told a change succeeded.
// Concurrent changes share writes (group commit): a caller waits until a
// write that includes its change is on disk.

#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <utility>

#include "common/result.h"

namespace weft::driver {

// The state file's format. Each version's change, and how an older file is
// brought up to date (migrateState), is listed in state_store.cc; every
// version ever released has a file in tests/unit/testdata/ that the tests
// read through the migration.
inline constexpr int kStateFormatVersion = 2;

// Brings a state document of an older format version up to the current one,
// in place. EINVAL (naming the problem) when it is not a document of a
// version this weft knows.
Status migrateState(nlohmann::json& j);

class StateStore {
 public:
  explicit StateStore(std::string path) : path_(std::move(path)) {}

  const std::string& path() const { return path_; }

  // Reads the state file. Absent: nullopt (first start). Unreadable,
  // corrupt or of an unknown version: an Error naming the file; the file is
  // left untouched and must not be overwritten. An older format is migrated
  // (the caller's next write stores the current format); the file as it was
  // is first copied to <path>.v<N>, so the previous weft version can still
  // be put back.
  Result<std::optional<nlohmann::json>> load();
  // load() first removes temp files that writers killed mid-write left
  // behind (<name>.tmp.<pid>, <name>.v<N>.tmp.<pid>) when <pid> no longer
  // runs; returns how many went.
  size_t removeStaleTempFiles();
  // The format version of the file load() read (0 before, or when absent).
  int loadedVersion() const { return loadedVersion_; }

  // A snapshot of the current state as text, and the change number it covers.
  using Snapshot = std::function<std::pair<std::string, uint64_t>()>;

  // Makes change number `seq` durable (group commit).
  Status persist(uint64_t seq, const Snapshot& snapshot);

  uint64_t writes() const { return writes_; }

 private:
  std::string path_;
  int loadedVersion_ = 0;
  std::mutex writeMu_;
  uint64_t durableSeq_ = 0;  // guarded by writeMu_
  uint64_t writes_ = 0;      // guarded by writeMu_
};

}  // namespace weft::driver
