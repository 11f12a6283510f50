#pragma once
// weftctl check: what is wrong on this host and, as far as it can see, in the
// cluster, each problem with what to do. A pure function of weft-plugin's
// answers, so every verdict and its words are unit-tested without a plugin.

#include <nlohmann/json.hpp>
#include <string>

namespace weft::weftctl {

struct CheckInput {
  nlohmann::json status;  // /weft.Status
  nlohmann::json peers;   // /weft.Peers; null when it could not be read (those checks are skipped)
  nlohmann::json ipam;    // /weft.Ipam; likewise
};

struct CheckOutcome {
  int exitCode = 0;     // 0: no problem; 1: at least one
  std::string text;     // what `weftctl check` prints
  nlohmann::json json;  // what `weftctl --json check` prints: {ok, problems, notices}
};

// The problems: /weft.Status's own (faulted networks, data-plane probes,
// hosts of a network with another MTU,
// drift weft cannot repair, host warnings, ...) and those found here in the
// other answers -- gossip from hosts this host cannot authenticate (another
// cluster key), gossip members suspected or dead, swarm nodes that are no
// gossip member (no weft there), IPAM blocks handed out twice after a
// partition. Notices (weft repaired drift, the sidecar was restarted) are
// shown and never fail the check.
CheckOutcome runCheck(const CheckInput& in);

}  // namespace weft::weftctl
