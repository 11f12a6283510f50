#include "weftctl/crypto_view.h"

#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "weftctl/table.h"

namespace weft::weftctl {

namespace {

using Json = nlohmann::json;

// The kernel ESP backend's pairs: this host's outbound epoch (one for all
// its peers) and its key's age, per peer the epochs its inbound SAs are at
// (the peer's current, next, and a previous one in its grace) and, from the
// plane, the outbound SA's epoch and SPI and the traffic its SAs counted
// (the userspace table's columns, under the same names in the JSON).
void kernelPairs(const Json& epochs, const Json& plane, std::ostream& out) {
  if (epochs.is_null()) return;
  out << "kernel ESP: this host's key epoch " << str(epochs["epoch"]) << ", key age "
      << str(epochs["ageSeconds"]) << " s, rotated every " << str(epochs["rotateEverySeconds"])
      << " s once in use";
  const int64_t next = epochs.value("nextRotationInSeconds", int64_t{-1});
  if (epochs.value("rotationWanted", false)) out << ", next rotation asked for (in " << next << " s)";
  out << " (" << str(epochs["file"]) << ")\n";
  auto epochList = [](const Json& a) {
    std::string s;
    for (const auto& e : a) s += (s.empty() ? "" : ",") + str(e);
    return s.empty() ? "-" : s;
  };
  std::map<std::string, std::vector<std::string>> rows;      // by peer
  const Json peers = epochs.value("peers", Json::object());  // items() must not outlive it
  const char* const kTraffic[] = {"sealedPackets", "sealedBytes", "openedPackets",
                                  "openedBytes",   "authFailed",  "replayed"};
  for (const auto& [host, p] : peers.items()) {
    rows[host] = {host, "-", epochList(p["in"]), "-"};
    rows[host].resize(4 + std::size(kTraffic), "-");
  }
  for (const auto& p : plane) {
    auto& r = rows[str(p["peer"])];
    std::string o = str(p["outEpoch"]);
    if (!p.value("previousOut", Json()).is_null()) o += " (previous " + str(p["previousOut"]) + ")";
    r = {str(p["peer"]), o, epochList(p["inEpochs"]), str(p["outSpi"])};
    // "-": the plane could not read the kernel's counters.
    for (const char* k : kTraffic) r.push_back(p.contains(k) ? str(p[k]) : "-");
  }
  std::vector<std::vector<std::string>> byPeer;
  for (auto& [host, r] : rows) byPeer.push_back(std::move(r));
  table(out,
        {"PEER", "OUT EPOCH", "IN EPOCHS", "OUT SPI", "TX PKTS", "TX BYTES", "RX PKTS", "RX BYTES",
         "AUTH FAIL", "REPLAYED"},
        byPeer);
  if (!plane.empty())
    out << "(kernel ESP counts per host pair, over all its encrypted networks, from the SAs installed now: a "
           "rotation's replaced SA takes its counts with it)\n";
}

// Which backend carries each encrypted network's traffic to each peer host,
// and why (driver/crypto_select.h); "none" means nothing is sent to or
// accepted from that host on that network.
void cryptoSelection(const Json& sel, const Json& kernelPlane, std::ostream& out) {
  if (sel.empty()) return;
  const std::string off = str(sel["kernelOff"]);
  out << "\nkernel ESP backend on this host: "
      << (sel.value("kernelEsp", false) ? "yes" : "no" + (off.empty() ? "" : " (" + off + ")")) << "\n";
  kernelPairs(sel.value("kernelEpochs", Json()), kernelPlane.value("peers", Json::array()), out);
  std::vector<std::vector<std::string>> rows;
  for (const auto& n : sel["networks"])
    for (const auto& p : n["peers"])
      rows.push_back({str(n["network"]), str(n["crypto"]), str(p["host"]), str(p["backend"]), str(p["why"])});
  table(out, {"NETWORK", "WEFT.CRYPTO", "PEER", "BACKEND", "WHY"}, rows);
}

}  // namespace

void printCrypto(const Json& j, std::ostream& out) {
  if (str(j["backend"]) == "off") {
    out << "encrypted networks: off (" << str(j["reason"]) << ")\n";
    cryptoSelection(j.value("selection", Json::object()), j.value("kernel", Json::object()), out);
    return;
  }
  out << "backend " << str(j["backend"]) << ", udp " << str(j["listen"]) << ", key epochs from "
      << str(j["epochStart"]) << " (reserved up to " << str(j["epochReservedUpTo"]) << ")\n";
  const Json& u = j["unattributed"];
  out << "dropped before a peer was known: truncated " << str(u["truncated"]) << ", bad header "
      << str(u["badHeader"]) << ", unknown sender " << str(u["unknownSender"]) << "\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& n : j["networks"])
    for (const auto& p : n["peers"])
      rows.push_back({str(n["identity"]), str(n["vni"]), str(p["host"]),
                      p.value("active", false) ? "yes" : "no", str(p["txEpoch"]), str(p["sealedPackets"]),
                      str(p["sealedBytes"]), str(p["openedPackets"]), str(p["openedBytes"]),
                      str(p["authFailed"]), str(p["replayed"]), str(p["staleKey"])});
  table(out,
        {"NETWORK", "VNI", "PEER", "ACTIVE", "EPOCH", "TX PKTS", "TX BYTES", "RX PKTS", "RX BYTES",
         "AUTH FAIL", "REPLAYED", "STALE KEY"},
        rows);
  cryptoSelection(j.value("selection", Json::object()), j.value("kernel", Json::object()), out);
}

void printCryptoRotated(const Json& j, std::ostream& out) {
  if (j.contains("rotated"))
    out << "rotated: " << str(j["rotated"]) << " sender session(s) moved to their next key epoch\n";
  if (!j.contains("kernel")) return;
  const Json& k = j["kernel"];
  if (k.contains("error"))
    out << "kernel ESP: " << str(k["error"]) << "\n";
  else if (k.value("rotated", false))
    out << "kernel ESP: this host's key epoch is now " << str(k["epoch"]) << "\n";
  else
    out << "kernel ESP: the rotation comes in " << str(k["waitSeconds"])
        << " s (the minimum interval since the last), key epoch still " << str(k["epoch"]) << "\n";
}

}  // namespace weft::weftctl
