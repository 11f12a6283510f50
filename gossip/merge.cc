#include "gossip/merge.h"

namespace weft::gossip {

uint64_t fnv1a(uint64_t h, const std::string& s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  h ^= 0xff;  // terminator so ("ab","c") != ("a","bc")
  h *= 1099511628211ULL;
  return h;
}

uint64_t fnv1a(uint64_t h, uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    h ^= (v >> (8 * i)) & 0xff;
    h *= 1099511628211ULL;
  }
  return h;
}

bool supersedes(const EndpointRecord& in, const EndpointRecord& cur) {
  if (in.version != cur.version) return in.version > cur.version;
  if (in.deleted != cur.deleted) return in.deleted;
  return std::tie(in.owner, in.ipv4, in.ipv6, in.mac, in.vtep) >
         std::tie(cur.owner, cur.ipv4, cur.ipv6, cur.mac, cur.vtep);
}

MergeOutcome mergeRecord(RecordTable& table, EndpointRecord in, Time now) {
  NetworkRecords& net = table.networks[in.network];
  in.tombstoneTime = in.deleted ? now : Time{0};
  // The watermark is the highest version seen from the owner, accepted or
  // not, so it is independent of arrival order.
  uint64_t& wm = net.watermark[in.owner];
  if (in.version > wm) {
    wm = in.version;
    ++net.generation;
  }
  auto it = net.records.find(in.endpoint);
  MergeOutcome outcome = MergeOutcome::kInserted;
  if (it != net.records.end()) {
    if (!supersedes(in, it->second)) return MergeOutcome::kStale;
    outcome = MergeOutcome::kReplaced;
  }
  net.records[in.endpoint] = std::move(in);
  ++net.generation;
  return outcome;
}

std::vector<EndpointRecord> expireTombstones(RecordTable& table, Time now, Duration ttl) {
  std::vector<EndpointRecord> expired;
  for (auto& [name, net] : table.networks) {
    for (auto it = net.records.begin(); it != net.records.end();) {
      if (it->second.deleted && now - it->second.tombstoneTime > ttl) {
        expired.push_back(std::move(it->second));
        it = net.records.erase(it);
        ++net.generation;
      } else {
        ++it;
      }
    }
  }
  return expired;
}

void suspendOwner(RecordTable& table, const std::string& owner) { table.suspendedOwners.insert(owner); }
void resumeOwner(RecordTable& table, const std::string& owner) { table.suspendedOwners.erase(owner); }

std::vector<EndpointRecord> dropOwner(RecordTable& table, const std::string& owner) {
  std::vector<EndpointRecord> removed;
  for (auto& [name, net] : table.networks) {
    for (auto it = net.records.begin(); it != net.records.end();) {
      if (it->second.owner == owner) {
        if (!it->second.deleted) removed.push_back(it->second);
        it = net.records.erase(it);
        ++net.generation;
      } else {
        ++it;
      }
    }
    if (net.watermark.erase(owner)) ++net.generation;
  }
  table.suspendedOwners.erase(owner);
  return removed;
}

void dropNetwork(RecordTable& table, const std::string& network) { table.networks.erase(network); }

bool isActive(const RecordTable& table, const EndpointRecord& r) {
  return !r.deleted && table.suspendedOwners.count(r.owner) == 0;
}

std::vector<EndpointRecord> activeRecords(const RecordTable& table, const std::string& network) {
  std::vector<EndpointRecord> out;
  auto it = table.networks.find(network);
  if (it == table.networks.end()) return out;
  for (const auto& [ep, r] : it->second.records)
    if (isActive(table, r)) out.push_back(r);
  return out;
}

const EndpointRecord* findRecord(const RecordTable& table, const std::string& network,
                                 const std::string& endpoint) {
  auto it = table.networks.find(network);
  if (it == table.networks.end()) return nullptr;
  auto r = it->second.records.find(endpoint);
  return r == it->second.records.end() ? nullptr : &r->second;
}

NetworkDigest computeDigest(const RecordTable& table, const std::string& network) {
  NetworkDigest d;
  auto it = table.networks.find(network);
  if (it == table.networks.end()) return d;
  for (const auto& [owner, wm] : it->second.watermark) d[owner] = OwnerDigest{wm, kFnvOffset};
  for (const auto& [ep, r] : it->second.records) {
    if (r.deleted) continue;
    OwnerDigest& od = d[r.owner];
    uint64_t h = od.hash;
    h = fnv1a(h, r.endpoint);
    h = fnv1a(h, r.version);
    h = fnv1a(h, r.ipv4);
    h = fnv1a(h, r.ipv6);
    h = fnv1a(h, r.mac);
    h = fnv1a(h, r.vtep);
    od.hash = h;
  }
  return d;
}

uint64_t digestRoot(const NetworkDigest& digest) {
  uint64_t h = kFnvOffset;
  for (const auto& [owner, od] : digest) {
    h = fnv1a(h, owner);
    h = fnv1a(h, od.maxVersion);
    h = fnv1a(h, od.hash);
  }
  return h;
}

std::vector<EndpointRecord> recordsForDigestDiff(const RecordTable& table, const std::string& network,
                                                 const NetworkDigest& theirs) {
  std::vector<EndpointRecord> out;
  auto it = table.networks.find(network);
  if (it == table.networks.end()) return out;
  NetworkDigest ours = computeDigest(table, network);
  for (const auto& [ep, r] : it->second.records) {
    const OwnerDigest& mine = ours[r.owner];
    auto t = theirs.find(r.owner);
    if (t == theirs.end()) {
      out.push_back(r);
      continue;
    }
    if (t->second == mine) continue;
    if (mine.maxVersion > t->second.maxVersion) {
      if (r.version > t->second.maxVersion) out.push_back(r);
    } else if (mine.maxVersion == t->second.maxVersion) {
      out.push_back(r);  // same watermark, different live set: send all
    }
  }
  return out;
}

bool digestHasNews(const NetworkDigest& ours, const NetworkDigest& theirs) {
  for (const auto& [owner, t] : theirs) {
    auto o = ours.find(owner);
    if (o == ours.end() || t.maxVersion > o->second.maxVersion ||
        (t.maxVersion == o->second.maxVersion && t.hash != o->second.hash))
      return true;
  }
  return false;
}

}  // namespace weft::gossip
