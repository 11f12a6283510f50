#pragma once
// The cluster key(s) the gossip control plane seals every packet with:
// WEFT_KEY (comma-separated, first = the one used for sending), or
// WEFT_KEY_FILE (one key per line, first = primary), or else a key generated
// on first start and kept in <state-dir>/gossip.key (mode 0600).

#include <string>
#include <vector>

#include "common/result.h"
#include "plugin/config.h"

namespace weft::plugin {

struct ClusterKeys {
  std::vector<std::string> keys;  // base64, primary first
  std::string source;             // where they came from, for messages
  bool generated = false;
  std::string path;  // the generated key's file
};

Result<ClusterKeys> loadClusterKeys(const Config& cfg);

}  // namespace weft::plugin
