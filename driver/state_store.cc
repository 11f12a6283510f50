#include "driver/state_store.h"

#include <nlohmann/json.hpp>

#include "common/json_file.h"

namespace weft::driver {

Result<std::optional<nlohmann::json>> StateStore::load() {
  auto text = readFile(path_);
  if (!text.ok()) {
    if (text.code() == ENOENT) return std::optional<nlohmann::json>{};
    return Error{text.code(), "cannot read state file " + path_ + ": " + text.error().message};
  }
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Error{EINVAL, "state file " + path_ +
                             " is corrupt (not a JSON object); weft will not overwrite it. "
                             "Move it aside to start with empty state, or restore a backup."};
  auto v = j.find("version");
  if (v == j.end() || !v->is_number_integer())
    return Error{EINVAL, "state file " + path_ + " has no format version; weft will not overwrite it"};
  if (v->get<int>() > kStateFormatVersion || v->get<int>() < 1)
    return Error{EINVAL, "state file " + path_ + " has format version " +
                             std::to_string(v->get<int>()) + ", this weft reads up to " +
                             std::to_string(kStateFormatVersion) +
                             "; weft will not overwrite it (downgrade is not supported)"};
  return std::optional<nlohmann::json>(std::move(j));
}

Status StateStore::persist(uint64_t seq, const Snapshot& snapshot) {
  std::lock_guard<std::mutex> lk(writeMu_);
  if (durableSeq_ >= seq) return Status::Ok();  // someone else's write covered us
  auto [text, covered] = snapshot();
  auto st = writeFileAtomic(path_, text, 0600);
  if (!st) return Error{st.code(), "cannot write state file " + path_ + ": " + st.error().message};
  durableSeq_ = covered;
  ++writes_;
  return Status::Ok();
}

}  // namespace weft::driver
