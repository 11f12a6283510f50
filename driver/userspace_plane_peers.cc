// The userspace plane's forwarding table kept across restarts
// (<state dir>/datapath-peers.json, see userspace_plane.h): what each
// network carried, so that a restarted weft-plugin forwards at once.

#include <cerrno>
#include <nlohmann/json.hpp>

#include "common/json_file.h"
#include "common/log.h"
#include "driver/userspace_plane.h"

namespace weft::driver {

namespace {

constexpr int kPeersFileVersion = 1;

nlohmann::json encodeEntries(const PeerEntries& e) {
  return nlohmann::json{{"neigh", e.neigh}, {"fdb", e.fdb}, {"flood", e.flood}};
}

PeerEntries decodeEntries(const nlohmann::json& j) {
  PeerEntries e;
  e.neigh = j.at("neigh").get<std::map<std::string, std::string>>();
  e.fdb = j.at("fdb").get<std::map<std::string, std::string>>();
  e.flood = j.at("flood").get<std::set<std::string>>();
  return e;
}

}  // namespace

void UserspacePlane::loadPeersFile() {
  if (cfg_.peersFile.empty()) return;
  auto text = readFile(cfg_.peersFile);
  if (!text.ok()) {
    if (text.code() != ENOENT)
      LOG_WARN("crypto", "cannot read "
                             << cfg_.peersFile << " (" << text.error().message
                             << "): encrypted networks forward once the cluster has told their peers");
    return;
  }
  try {
    auto j = nlohmann::json::parse(*text);
    if (j.at("version").get<int>() != kPeersFileVersion)
      throw std::runtime_error("version " + j.at("version").dump() + ", not " +
                               std::to_string(kPeersFileVersion));
    std::map<std::string, PeerEntries> loaded;
    for (const auto& [identity, e] : j.at("networks").items()) loaded[identity] = decodeEntries(e);
    restored_ = std::move(loaded);
  } catch (const std::exception& e) {
    // A cache: what it held comes again from the cluster.
    LOG_WARN("crypto", "ignoring " << cfg_.peersFile << ": " << e.what()
                                   << "; encrypted networks forward once the cluster has told their peers");
    return;
  }
  size_t macs = 0;
  for (const auto& [identity, e] : restored_) macs += e.fdb.size();
  LOG_INFO("crypto", "forwarding table kept from the last run: " << restored_.size() << " network(s), "
                                                                 << macs << " remote MACs (" << cfg_.peersFile
                                                                 << ")");
}

void UserspacePlane::writePeersLocked() {
  if (!peersDirty_ || cfg_.peersFile.empty()) return;
  nlohmann::json nets = nlohmann::json::object();
  // Networks not attached (yet: one that failed to restore is retried)
  // keep what they had.
  for (const auto& [identity, e] : restored_) nets[identity] = encodeEntries(e);
  for (const auto& [identity, n] : nets_) nets[identity] = encodeEntries(n.entries);
  nlohmann::json j{{"version", kPeersFileVersion}, {"networks", nets}};
  if (auto st = writeFileAtomic(cfg_.peersFile, j.dump() + "\n"); !st) {
    LOG_WARN("crypto", "writing " << cfg_.peersFile << ": " << st.error().message << " (retried)");
    return;
  }
  peersDirty_ = false;
}

}  // namespace weft::driver
