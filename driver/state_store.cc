#include "driver/state_store.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/json_file.h"
#include "common/log.h"

namespace weft::driver {

// Format versions:
//   1  weft 0.1: networks, endpoints, ipam, and "discovered": the swarm
//      nodes' addresses (DiscoverNew), an array of strings.
//   2  "discovered" becomes {"self": <this node's address as swarm sees it,
//      or "">, "nodes": [<the other nodes' addresses>]}: swarm's DiscoverNew
//      for the node itself (Self: true) is kept, so weft can check its
//      ADVERTISE_ADDR against swarm's and show it (weftctl status).
namespace {
Status migrate1to2(nlohmann::json& j) {
  auto d = j.find("discovered");
  if (d == j.end() || !d->is_array()) return Error{EINVAL, "format 1 needs \"discovered\" to be an array"};
  for (const auto& a : *d)
    if (!a.is_string()) return Error{EINVAL, "format 1 needs \"discovered\" to hold strings"};
  nlohmann::json nodes = std::move(*d);
  *d = {{"self", ""}, {"nodes", std::move(nodes)}};
  return Status::Ok();
}
}  // namespace

Status migrateState(nlohmann::json& j) {
  using Step = Status (*)(nlohmann::json&);
  static const Step steps[] = {nullptr, migrate1to2};  // steps[v]: v -> v+1
  static_assert(std::size(steps) == kStateFormatVersion, "one migration per format version");
  auto v = j.find("version");
  if (!j.is_object() || v == j.end() || !v->is_number_integer()) return Error{EINVAL, "no format version"};
  int from = v->get<int>();
  if (from < 1 || from > kStateFormatVersion)
    return Error{EINVAL, "format version " + std::to_string(from) + " is not one this weft knows (1 to " +
                             std::to_string(kStateFormatVersion) + ")"};
  for (int at = from; at < kStateFormatVersion; ++at) {
    if (auto st = steps[at](j); !st)
      return Error{EINVAL, "migrating format " + std::to_string(at) + " to " + std::to_string(at + 1) + ": " +
                               st.error().message};
    j["version"] = at + 1;
  }
  return Status::Ok();
}

namespace {
struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

// The writer's pid of a temp file writeFileAtomic left of `base` (or of one
// of its .v<N> copies), or 0 when `name` is not one.
pid_t tempFileWriter(const std::string& name, const std::string& base) {
  const std::string tag = ".tmp.";
  auto at = name.rfind(tag);
  if (name.rfind(base, 0) != 0 || at == std::string::npos || at < base.size()) return 0;
  const std::string middle = name.substr(base.size(), at - base.size());  // "" or ".v<N>"
  if (!middle.empty() && (middle.size() < 3 || middle.compare(0, 2, ".v") != 0 ||
                          middle.find_first_not_of("0123456789", 2) != std::string::npos))
    return 0;
  const std::string pid = name.substr(at + tag.size());
  if (pid.empty() || pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) return 0;
  return static_cast<pid_t>(std::stol(pid));
}
}  // namespace

size_t StateStore::removeStaleTempFiles() {
  auto slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash);
  const std::string base = slash == std::string::npos ? path_ : path_.substr(slash + 1);
  std::unique_ptr<DIR, DirCloser> d(::opendir(dir.c_str()));
  if (!d) return 0;
  size_t removed = 0;
  while (dirent* e = ::readdir(d.get())) {
    pid_t pid = tempFileWriter(e->d_name, base);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // its writer may still be at it
    const std::string file = dir + "/" + e->d_name;
    if (::unlink(file.c_str()) == 0) {
      ++removed;
      LOG_INFO("state", "removed " << file << ", left by process " << pid << " that stopped mid-write");
    }
  }
  return removed;
}

Result<std::optional<nlohmann::json>> StateStore::load() {
  removeStaleTempFiles();
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
    return Error{EINVAL, "state file " + path_ + " has format version " + std::to_string(v->get<int>()) +
                             ", this weft reads up to " + std::to_string(kStateFormatVersion) +
                             "; weft will not overwrite it (downgrade is not supported)"};
  int version = v->get<int>();
  if (version < kStateFormatVersion) {
    if (auto st = migrateState(j); !st)
      return Error{EINVAL,
                   "state file " + path_ + ": " + st.error().message + "; weft will not overwrite it"};
    const std::string keep = path_ + ".v" + std::to_string(version);
    if (auto st = writeFileAtomic(keep, *text, 0600); !st)
      return Error{st.code(), "state file " + path_ + ": cannot keep a copy of format " +
                                  std::to_string(version) + " before migrating it: " + st.error().message};
  }
  loadedVersion_ = version;
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
