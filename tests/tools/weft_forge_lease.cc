// weft-forge-lease: a cluster member that has the key and lies (issue 12,
// "a lease record forged by a member for a block it does not own"). It runs
// a real weft-gossip sidecar, joins the cluster through it as a new member
// and, once the seed is alive, publishes one lease record -- the way
// weft-plugin would publish its own -- claiming a block it does not own.
// The other hosts' plugins must refuse it; the e2e test checks that they do.
//
//   weft-forge-lease --gossip BIN --id ADDR --key KEY --seed ADDR
//       --pool CIDR --block N [--takeover-of OWNER@CLAIMEDAT] [--wait-ms MS] [--hold-ms MS]
//       [--log FILE]
//
// The lease is marked used, claimed at the earliest time (1 µs), so under
// the lease rules it would win the block if it were taken in. It is
// published --wait-ms (default 0) after the seed is alive and stays
// published for --hold-ms (default 3000); then the sidecar is stopped.
// Exit 0 once the record was handed to the sidecar; 1 on any failure (the
// sidecar did not start, the seed never became alive).
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "tests/gossip/sidecar/sidecar_harness.h"

namespace {

int usage(const char* why) {
  std::fprintf(
      stderr,
      "weft-forge-lease: %s\nusage: weft-forge-lease --gossip BIN --id ADDR --key KEY --seed ADDR "
      "--pool CIDR --block N [--takeover-of OWNER@CLAIMEDAT] [--wait-ms MS] [--hold-ms MS] [--log FILE]\n",
      why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using weft::test::Json;
  std::map<std::string, std::string> a{
      {"--hold-ms", "3000"}, {"--wait-ms", "0"}, {"--log", "/dev/stderr"}, {"--takeover-of", ""}};
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0 || i + 1 >= argc) return usage(("bad argument " + k).c_str());
    a[k] = argv[++i];
  }
  for (const char* need : {"--gossip", "--id", "--key", "--seed", "--pool", "--block"})
    if (!a.count(need) || a[need].empty()) return usage((std::string("missing ") + need).c_str());
  char* end = nullptr;
  const unsigned long block = std::strtoul(a["--block"].c_str(), &end, 10);
  if (*end != '\0') return usage("--block is not a number");
  const long holdMs = std::strtol(a["--hold-ms"].c_str(), &end, 10);
  if (*end != '\0' || holdMs < 0 || holdMs > 600000) return usage("--hold-ms must be 0..600000");
  const long waitMs = std::strtol(a["--wait-ms"].c_str(), &end, 10);
  if (*end != '\0' || waitMs < 0 || waitMs > 600000) return usage("--wait-ms must be 0..600000");

  ::setenv("WEFT_GOSSIP_BIN", a["--gossip"].c_str(), 1);
  weft::test::Sidecar::Options o;
  o.id = a["--id"];
  o.addr = a["--id"] + ":7947";
  o.key = a["--key"];
  o.seeds = {a["--seed"] + ":7947"};
  weft::test::Sidecar s(o, a["--log"]);
  if (!s.ready()) {
    std::fprintf(stderr, "weft-forge-lease: the sidecar did not get ready\n");
    return 1;
  }
  const std::string seed = a["--seed"];
  Json st = s.statusUntil(
      [&](const Json& j) {
        for (const auto& m : j.value("members", Json::array()))
          if (m.value("id", "") == seed && m.value("state", "") == "alive") return true;
        return false;
      },
      20000);
  bool joined = false;
  if (!st.is_null())
    for (const auto& m : st.value("members", Json::array()))
      joined |= m.value("id", "") == seed && m.value("state", "") == "alive";
  if (!joined) {
    std::fprintf(stderr, "weft-forge-lease: seed %s never alive\n", seed.c_str());
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(waitMs));
  s.send(Json{{"op", "lease"},
              {"withdraw", false},
              {"pool", a["--pool"]},
              {"block", block},
              {"owner", ""},
              {"claimedAt", 1},
              {"used", true},
              {"released", false},
              {"takeoverOf", a["--takeover-of"]}});
  std::printf("published a forged lease of block %lu of %s as %s\n", block, a["--pool"].c_str(),
              o.id.c_str());
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::milliseconds(holdMs));
  return s.running() ? 0 : 1;
}
