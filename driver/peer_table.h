#pragma once
// The peer table (libnetwork's peerdb): the remote endpoints the cluster
// reports, per network identity; the kernel entries each local sandbox must
// hold for them -- a permanent neighbour entry (IP -> MAC, answered locally
// by the VTEP's ARP/ND proxy), a permanent FDB entry (MAC -> remote VTEP) and
// one all-zero-MAC flood entry per remote VTEP; and their programming.
//
// Records and sandboxes change under the table's own short lock and never
// touch the kernel; sync() alone programs, one caller at a time, with no lock
// held during kernel calls -- so neither a Docker call nor the control plane
// waits on netlink of another. What sync() could not program stays wanted
// and is retried with backoff until it holds.

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "driver/cluster.h"
#include "kernel/kernel.h"

namespace weft::driver {

// --- the rules, pure ---

// Entries one sandbox holds (or should) for its remote endpoints.
struct PeerEntries {
  std::map<std::string, std::string> neigh;  // IP -> MAC
  std::map<std::string, std::string> fdb;    // MAC -> remote VTEP
  std::set<std::string> flood;               // remote VTEPs (all-zero-MAC entries)
  bool operator==(const PeerEntries&) const = default;
};

// What a network's records ask of its sandbox. Every address of a record
// maps to its MAC, its MAC to its VTEP, and every VTEP with at least one
// record gets a flood entry. Should two records claim one IP or MAC (a
// transient of a move), the record with the greater endpoint id wins, so the
// answer does not depend on arrival order.
PeerEntries desiredEntries(const std::map<std::string, EndpointRecord>& records);

// Kernel operations that turn `have` into `want`: removals of what goes,
// then adds of what is new or changed (an add replaces the kernel's entry
// for that key in place).
struct PeerOps {
  std::vector<std::pair<std::string, std::string>> delNeigh, addNeigh;  // IP, MAC
  std::vector<std::pair<std::string, std::string>> delFdb, addFdb;      // MAC, VTEP
  std::vector<std::string> delFlood, addFlood;                          // VTEP
  size_t size() const;
};
PeerOps diffEntries(const PeerEntries& have, const PeerEntries& want);

// Where a network's entries go.
struct PeerSandbox {
  std::string netns;
  std::string vtep;  // the VXLAN device's name
};

// Applies `ops` to one sandbox's VTEP (replacing what an add finds there);
// what succeeded is in `done` as the change it made, failures are counted
// and the first one's text kept. recordPeerOps() applies `done` to what the
// caller holds as programmed. Also the kernel ESP backend's
// (driver/kernel_plane.h).
struct AppliedPeerOps {
  PeerOps done;
  size_t failed = 0;
  std::string firstError;
};
AppliedPeerOps programPeerOps(kernel::Kernel& k, const PeerSandbox& at, const PeerOps& ops);
void recordPeerOps(PeerEntries& have, const PeerOps& done);

// --- the table ---

class PeerTable {
 public:
  struct Options {
    std::chrono::milliseconds firstRetry{100};  // doubling per failed sync of a sandbox
    std::chrono::milliseconds maxRetry{30000};
  };
  PeerTable(kernel::Kernel& kernel, std::string selfVtep, Options options);
  explicit PeerTable(kernel::Kernel& kernel, std::string selfVtep = "")
      : PeerTable(kernel, std::move(selfVtep), Options{}) {}

  // --- records (cheap, no kernel call) ---
  // A remote endpoint appeared or changed (kActive) or went away. Records of
  // this host's own VTEP are ignored, and so are those of a VTEP of the
  // other address family than this host's (logged once per VTEP: weft does
  // not mix underlay families). Returns whether the table changed.
  bool apply(const EndpointRecord& r, RecordState state);
  // The remote VTEPs refused for their address family.
  std::set<std::string> refusedVteps() const;
  // A new control-plane session: records not confirmed (applied active)
  // before forgetUnconfirmed() are forgotten then.
  void beginResync();
  // Returns the records forgotten.
  std::vector<EndpointRecord> forgetUnconfirmed();
  std::vector<EndpointRecord> records() const;
  // Network identity -> the remote VTEPs with at least one record on it.
  std::map<std::string, std::set<std::string>> remoteVteps() const;

  // --- sandboxes (cheap, no kernel call) ---
  // The network `identity` has a usable sandbox at `where`: its entries are
  // programmed there by the next sync(). What the sandbox already holds is
  // not known (a new sandbox holds nothing; an adopted one may hold entries
  // from before a restart, which pruneStale() removes).
  void attach(const std::string& identity, const PeerSandbox& where);
  // The sandbox is gone or not usable: nothing is programmed for it.
  void detach(const std::string& identity);

  // --- programming (serialized) ---
  struct SyncResult {
    size_t applied = 0;  // kernel operations that succeeded
    size_t failed = 0;   // failed, kept for a retry
    size_t retries = 0;  // sandboxes programmed again after a failed sync
  };
  // Programs every attached sandbox whose entries differ from what its
  // records ask and whose retry time has come (changed sandboxes at once).
  SyncResult sync();
  // Lists each attached sandbox's entries on its VTEP, removes those no
  // record asks for (left from before a restart) and counts the others as
  // programmed. Returns how many it removed.
  size_t pruneStale();
  // --- self-healing (driver/peer_heal.cc) ---
  // One entry put back in a sandbox: its network identity, the table (fdb,
  // neigh, flood), the action (added, removed, replaced), and in words.
  struct Fix {
    std::string identity, table, action, what;
  };
  // Compares the entries the kernel holds on the VTEP of each given network
  // with what weft wants there, and puts them back: an entry weft programmed
  // that is gone is added again, one with another value than wanted is
  // replaced, one that no record asks for and weft did not program is
  // removed. Keys whose programming is still due (a record changed since
  // the last sync, a failed entry waiting for its retry) are sync()'s work
  // and left alone; heal() and sync() never run at the same time. A sandbox
  // whose entries cannot be listed is skipped (its VTEP is a matter for the
  // sandbox's reconcile). Entries nobody asks for are removed only once
  // pruneStale() has run: until the control plane's first full sync since
  // this process started, the records are not the cluster's whole view (a
  // restarted plugin holds none), and removing what they lack would cut
  // running containers' traffic. Returns what it did.
  std::vector<Fix> heal(const std::vector<std::string>& identities);
  // pruneStale() has run since start: heal() removes entries nobody asks for.
  bool synced() const;
  // Kernel entries wanted but not (yet) programmed, over all sandboxes.
  size_t pending() const;
  // What every sync() so far did, added up (metrics).
  SyncResult totals() const;

 private:
  // Keys of a sandbox's entries that records changed since its last sync.
  struct PeerKeys {
    std::set<std::string> ips, macs, vteps;
  };
  struct Sandbox {
    PeerSandbox where;
    PeerEntries have;         // what sync() has programmed there
    uint64_t generation = 0;  // attach() count: results of an older attach are dropped
    std::chrono::steady_clock::time_point retryAt{};
    std::chrono::milliseconds backoff{0};
    bool failing = false;  // the last sync left something unprogrammed
    bool changed = true;   // records or attach changed since the last sync
    bool full = true;      // diff everything (after attach, prune or a failure), not only `dirty`
    PeerKeys dirty;
  };
  // Who claims each key of a network's entries, so one record's change is
  // programmed by looking at its own keys only (not the whole network).
  struct Claims {
    std::map<std::string, std::map<std::string, std::string>> ips;   // IP -> endpoint -> MAC
    std::map<std::string, std::map<std::string, std::string>> macs;  // MAC -> endpoint -> VTEP
    std::map<std::string, int> vteps;                                // VTEP -> records
  };
  // Under mu_: r's claims are added (or removed), and its keys marked dirty
  // in its network's sandbox.
  enum class Claim { kAdd, kRemove };
  void claimLocked(const EndpointRecord& r, Claim how);
  // Under mu_: false (and logged, once per VTEP) when r's VTEP is of the
  // other address family than this host's.
  bool sameFamilyAsSelfLocked(const EndpointRecord& r);
  // Under mu_: the operations that bring the dirty keys of `s` in line.
  PeerOps dirtyOpsLocked(const std::string& identity, Sandbox& s);
  // A sandbox's work, done without the lock.
  struct Work {
    std::string identity;
    PeerSandbox where;
    uint64_t generation;
    PeerOps ops;
  };
  // Under mu_: the work of every sandbox changed or due for a retry, which
  // then count as no longer changed.
  std::vector<Work> dueWorkLocked();

  kernel::Kernel& kernel_;
  const std::string self_;
  const Options options_;
  std::mutex syncMu_;  // one sync()/pruneStale() at a time; taken before mu_
  mutable std::mutex mu_;
  SyncResult totals_;  // guarded by mu_
  // identity -> endpoint id -> record
  std::map<std::string, std::map<std::string, EndpointRecord>> records_;
  std::map<std::pair<std::string, std::string>, uint64_t> confirmed_;  // -> session
  std::set<std::string> refusedVteps_;  // remote VTEPs of the other address family (logged once)
  uint64_t session_ = 0;
  bool synced_ = false;                       // pruneStale() has run: the records are the cluster's view
  std::map<std::string, Claims> claims_;      // identity -> who claims what
  std::map<std::string, Sandbox> sandboxes_;  // identity -> its sandbox
  uint64_t generation_ = 0;
};

}  // namespace weft::driver
