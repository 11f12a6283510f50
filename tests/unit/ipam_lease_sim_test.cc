// Property tests of the lease rules (driver/ipam_leases.h) in a small
// deterministic simulator of a gossip cluster: hosts publish their claims,
// delivery takes a random delay, anti-entropy repeats every owner's full set,
// membership marks unreachable hosts gone after a detection delay. Random
// allocations, releases, restarts (state through toJson/fromJson), crashes
// and partitions; the invariant is checked after every step.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "driver/ipam_leases.h"

using namespace weft;
using namespace weft::driver;

namespace {

constexpr int64_t kMs = 1000;

struct SimParams {
  int hosts = 4;
  const char* pool = "10.60.0.0/25";  // 8 blocks: hosts compete for them
  int64_t maxDelay = 200 * kMs;       // connected delivery, well under settle
  int64_t antiEntropy = 1000 * kMs;
  int64_t detect = 3000 * kMs;  // membership declares an unreachable host gone
  int64_t grace = 20000 * kMs;
  int steps = 3000;  // of 50 ms
  bool partitions = false;
  bool crashes = true;
  bool restarts = true;
};

struct Message {
  int64_t at;
  int to;
  std::string owner;
  uint64_t seq;
  std::vector<LeaseClaim> claims;  // the owner's full set (like a digest sync)
};

struct Host {
  Host(std::string n, const Prefix& pool, LeaseRules r) : book(std::move(n), pool, r) {}
  LeaseBook book;
  bool up = true;
  uint64_t published = 0;
  uint64_t seq = 0;
  std::map<std::string, uint64_t> seen;
  std::map<int, int64_t> unreachableSince;
};

class LeaseSim {
 public:
  LeaseSim(SimParams p, uint32_t seed) : p_(p), rng_(seed) {
    rules_.graceUs = p.grace;
    for (int i = 0; i < p.hosts; ++i) {
      hosts_.push_back(std::make_unique<Host>(name(i), *Prefix::parse(p.pool), rules_));
      hosts_.back()->book.reserve(*IpAddr::parse("10.60.0.1"));
      skew_.push_back(std::uniform_int_distribution<int64_t>(-50 * kMs, 50 * kMs)(rng_));
    }
  }

  // Runs the scenario; returns duplicates seen (address -> holders) at any step.
  void run() {
    for (int s = 0; s < p_.steps; ++s) {
      now_ += 50 * kMs;
      deliver();
      if (now_ % p_.antiEntropy == 0) antiEntropy();
      membership();
      act(s);
      for (auto& h : hosts_)
        if (h->up) publishIfChanged(*h);
      check();
      if (::testing::Test::HasFatalFailure()) return;
    }
  }

  int duplicatesSeen = 0;
  int reclaims = 0;
  int allocations = 0;
  bool partitionHappened = false;
  std::set<std::pair<uint32_t, std::set<int>>> dupBlocks;  // for the report after heal
  std::vector<std::unique_ptr<Host>> hosts_;

  std::map<IpAddr, std::set<int>> holders() const {
    std::map<IpAddr, std::set<int>> out;
    for (size_t i = 0; i < hosts_.size(); ++i)
      if (hosts_[i]->up)
        for (const auto& a : hosts_[i]->book.addresses()) out[a].insert(int(i));
    return out;
  }

  void heal() {
    side_.clear();
    for (int i = 0; i < 40; ++i) {  // settle for 2 s of virtual time
      now_ += 50 * kMs;
      deliver();
      if (now_ % p_.antiEntropy == 0) antiEntropy();
      membership();
      for (auto& h : hosts_)
        if (h->up) {
          h->book.tick(now_);
          publishIfChanged(*h);
        }
    }
  }
  int64_t now() const { return now_; }

 private:
  static std::string name(int i) { return "h" + std::to_string(i); }

  bool reachable(int a, int b) const {
    if (!hosts_[a]->up || !hosts_[b]->up) return false;
    auto sa = side_.count(a) ? side_.at(a) : 0, sb = side_.count(b) ? side_.at(b) : 0;
    return sa == sb;
  }

  void send(int from) {
    Host& h = *hosts_[from];
    for (size_t to = 0; to < hosts_.size(); ++to) {
      if (int(to) == from || !reachable(from, int(to))) continue;
      int64_t d = std::uniform_int_distribution<int64_t>(1 * kMs, p_.maxDelay)(rng_);
      queue_.push_back({now_ + d, int(to), h.book.self(), h.seq, h.book.ownClaims()});
    }
  }

  void publishIfChanged(Host& h) {
    int idx = index(h.book.self());
    if (h.book.generation() == h.published) return;
    h.published = h.book.generation();
    ++h.seq;
    send(idx);
  }

  int index(const std::string& n) const { return std::stoi(n.substr(1)); }

  void deliver() {
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->at > now_) {
        ++it;
        continue;
      }
      Host& to = *hosts_[it->to];
      // Dropped if the receiver went down or the link broke meanwhile.
      if (reachable(index(it->owner), it->to) && to.seen[it->owner] < it->seq) {
        to.seen[it->owner] = it->seq;
        std::set<uint32_t> now;
        for (const auto& c : it->claims) {
          now.insert(c.block);
          auto st = to.book.observe(c, now_);
          if (!st.ok()) ADD_FAILURE() << "refused " << c.id() << ": " << st.error().message;
        }
        for (const auto& [b, owners] : BlockClaims(to.book.others()))
          if (owners.count(it->owner) && !now.count(b)) to.book.forget(it->owner, b);
        to.book.tick(now_);
      }
      it = queue_.erase(it);
    }
  }

  void antiEntropy() {
    for (size_t i = 0; i < hosts_.size(); ++i)
      if (hosts_[i]->up) {
        hosts_[i]->seq++;
        send(int(i));
      }
  }

  void membership() {
    for (size_t i = 0; i < hosts_.size(); ++i) {
      if (!hosts_[i]->up) continue;
      for (size_t j = 0; j < hosts_.size(); ++j) {
        if (i == j) continue;
        auto& since = hosts_[i]->unreachableSince;
        if (reachable(int(i), int(j))) {
          if (since.erase(int(j))) hosts_[i]->book.ownerBack(name(int(j)));
          continue;
        }
        auto [it, fresh] = since.emplace(int(j), now_);
        if (now_ - it->second >= p_.detect) hosts_[i]->book.ownerGone(name(int(j)), it->second + p_.detect);
      }
    }
  }

  void act(int step) {
    std::uniform_int_distribution<int> host(0, p_.hosts - 1), pct(0, 99);
    for (int k = 0; k < 3; ++k) {
      int i = host(rng_);
      Host& h = *hosts_[i];
      if (!h.up) continue;
      int r = pct(rng_);
      if (r < 60) {
        auto got = h.book.allocate(now_, uint64_t(now_ + skew_[i]));
        if (got.ok()) {
          ++allocations;
          for (const auto& c : h.book.ownClaims())
            if (!c.takeoverOf.empty()) reclaims = std::max(reclaims, 1);
        } else if (got.code() != EAGAIN && got.code() != ENOSPC) {
          ADD_FAILURE() << got.error().message;
        }
      } else if (r < 90) {
        auto addrs = h.book.addresses();
        if (!addrs.empty())
          h.book.release(addrs[std::uniform_int_distribution<size_t>(0, addrs.size() - 1)(rng_)]);
      }
    }
    int e = pct(rng_);
    if (p_.restarts && e < 2) restart(host(rng_));
    if (p_.crashes && step == 600) crash(host(rng_));  // reclaimed after detect + grace
    if (p_.partitions && step % 400 == 100) partition();
    if (p_.partitions && step % 400 == 300) healInPlace();
  }

  void restart(int i) {
    Host& h = *hosts_[i];
    if (!h.up) return;
    auto saved = h.book.toJson();
    auto back = LeaseBook::fromJson(name(i), saved, rules_, now_);
    ASSERT_TRUE(back.ok()) << back.error().message;
    back->reserve(*IpAddr::parse("10.60.0.1"));
    h.book = std::move(*back);
    h.seen.clear();
    h.unreachableSince.clear();
    h.published = 0;
    // The join's sync: a live peer's records (a dead owner's too: gossip
    // keeps them suspended) and which members it sees dead.
    for (size_t j = 0; j < hosts_.size(); ++j) {
      if (int(j) == i || !reachable(i, int(j))) continue;
      const LeaseBook& peer = hosts_[j]->book;
      for (const auto& [b, owners] : peer.others())
        for (const auto& [o, c] : owners)
          if (o != name(i)) h.book.observe(c, now_);
      for (const auto& c : peer.ownClaims()) h.book.observe(c, now_);
      for (size_t k = 0; k < hosts_.size(); ++k)
        if (!hosts_[k]->up) h.book.ownerGone(name(int(k)), now_);
      break;
    }
  }

  void crash(int i) {
    int alive = 0;
    for (auto& h : hosts_) alive += h->up;
    if (alive <= 2) return;
    hosts_[i]->up = false;  // its containers go with it
  }

  void partition() {
    partitionHappened = true;
    for (int i = 0; i < p_.hosts; ++i) side_[i] = std::uniform_int_distribution<int>(0, 1)(rng_);
  }
  void healInPlace() { side_.clear(); }

  void check() {
    for (const auto& [addr, who] : holders()) {
      if (who.size() < 2) continue;
      ++duplicatesSeen;
      if (!p_.partitions) {
        std::string names;
        for (int w : who) names += name(w) + " ";
        ADD_FAILURE() << "address " << addr.str() << " handed out by " << names << "at t=" << now_ / kMs
                      << "ms";
      }
    }
  }

  SimParams p_;
  std::mt19937 rng_;
  LeaseRules rules_;
  int64_t now_ = 0;
  std::vector<int64_t> skew_;
  std::vector<Message> queue_;
  std::map<int, int> side_;
};

}  // namespace

TEST(LeaseSim, NoAddressIsEverHandedOutTwiceWithRestartsAndCrashes) {
  int allocations = 0, reclaims = 0;
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    LeaseSim sim(SimParams{}, seed);
    sim.run();
    if (HasFailure()) {
      ADD_FAILURE() << "seed " << seed;
      return;
    }
    EXPECT_EQ(sim.duplicatesSeen, 0) << "seed " << seed;
    allocations += sim.allocations;
    reclaims += sim.reclaims;
  }
  EXPECT_GT(allocations, 10000);  // the runs did real work
  EXPECT_GT(reclaims, 0);         // and crashed hosts' blocks were reclaimed
  std::printf("30 runs: %d allocations, %d with reclaimed blocks, no duplicate\n", allocations, reclaims);
}

TEST(LeaseSim, ConcurrentClaimsOnAPoolWithOneBlockPerHost) {
  for (uint32_t seed = 100; seed < 130; ++seed) {
    SimParams p;
    p.hosts = 8;  // 8 blocks, 8 hosts all claiming at once
    p.crashes = false;
    LeaseSim sim(p, seed);
    sim.run();
    ASSERT_FALSE(HasFailure()) << "seed " << seed;
    EXPECT_EQ(sim.duplicatesSeen, 0) << "seed " << seed;
  }
}

TEST(LeaseSim, AfterAPartitionHealsEveryDuplicateIsReportedByBothHosts) {
  int partitionDups = 0;
  for (uint32_t seed = 200; seed < 230; ++seed) {
    SimParams p;
    p.partitions = true;
    p.crashes = false;
    p.hosts = 5;
    p.steps = 1200;
    LeaseSim sim(p, seed);
    sim.run();
    ASSERT_FALSE(HasFailure()) << "seed " << seed;
    sim.heal();
    for (const auto& [addr, who] : sim.holders()) {
      if (who.size() < 2) continue;
      ++partitionDups;
      for (int w : who) {
        auto& book = sim.hosts_[w]->book;
        auto block = *book.layout().blockOf(addr);
        bool reported = false;
        for (const auto& c : book.conflicts(sim.now())) reported |= c.block == block;
        EXPECT_TRUE(reported) << "seed " << seed << ": " << addr.str() << " held by h" << w
                              << " not reported";
      }
    }
  }
  // Partitions of a tight pool do produce duplicates; they are all detected.
  RecordProperty("duplicatesAfterPartitions", partitionDups);
  std::printf("duplicate addresses left after healed partitions (30 runs): %d, all reported\n",
              partitionDups);
}
