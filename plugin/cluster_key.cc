#include "plugin/cluster_key.h"

#include <openssl/rand.h>
#include <sys/stat.h>

#include <sstream>

#include "common/json_file.h"
#include "gossip/keyring.h"

namespace weft::plugin {

namespace {

Result<std::vector<std::string>> parseList(const std::string& text, char sep, const std::string& where) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  int n = 0;
  while (std::getline(ss, item, sep)) {
    ++n;
    auto first = item.find_first_not_of(" \t\r");
    if (first == std::string::npos || item[first] == '#') continue;
    auto key = gossip::parseKey(item);
    if (!key.ok()) return Error{EINVAL, where + " entry " + std::to_string(n) + ": " + key.error().message};
    out.push_back(gossip::keyToBase64(*key));
  }
  if (out.empty()) return Error{EINVAL, where + " holds no key"};
  return out;
}

}  // namespace

Result<ClusterKeys> loadClusterKeys(const Config& cfg) {
  ClusterKeys k;
  if (!cfg.key.empty()) {
    auto v = parseList(cfg.key, ',', "KEY");
    if (!v.ok()) return v.error();
    k.keys = *v;
    k.source = "KEY";
    return k;
  }
  std::string path = cfg.keyFile;
  bool generatedPath = path.empty();
  if (generatedPath) path = cfg.stateDir + "/gossip.key";
  auto text = readFile(path);
  if (!text.ok() && !(generatedPath && text.code() == ENOENT))
    return Error{text.code(), "cannot read cluster key file " + path + ": " + text.error().message};
  if (text.ok()) {
    auto v = parseList(*text, '\n', "key file " + path);
    if (!v.ok()) return v.error();
    k.keys = *v;
    k.source = path;
    k.path = path;
    return k;
  }
  gossip::Key key;
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1)
    return Error{EIO, "cannot generate a cluster key: no randomness"};
  std::string b64 = gossip::keyToBase64(key);
  if (auto st = writeFileAtomic(path, b64 + "\n", 0600); !st)
    return Error{st.code(), "cannot store the generated cluster key: " + st.error().message};
  k.keys = {b64};
  k.source = path;
  k.path = path;
  k.generated = true;
  return k;
}

}  // namespace weft::plugin
