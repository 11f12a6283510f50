#include "driver/esp_epochs.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/ip.h"
#include "common/json_file.h"
#include "driver/crypto_select.h"
#include "driver/host_record_key.h"

namespace weft::driver {

namespace {

constexpr const char* kEpochMacPrefix = "02:00:";
constexpr const char* kRecordPrefix = "esp.";
using Steady = std::chrono::steady_clock;

class RealClock : public EspEpochClock {
 public:
  int64_t unixSeconds() override {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  Steady::time_point steady() override { return Steady::now(); }
};

class RealFiles : public EspEpochFiles {
 public:
  Result<std::string> read(const std::string& path) override { return readFile(path); }
  Status writeDurably(const std::string& path, const std::string& content) override {
    return writeFileAtomic(path, content);
  }
};

// The epoch of a record's MAC 02:00:EE:EE:EE:EE (lower-case hex, as
// recordFor writes it); nullopt when it is not one.
std::optional<uint32_t> macEpoch(const std::string& mac) {
  const std::string prefix = kEpochMacPrefix;
  if (mac.size() != 17 || mac.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  uint32_t v = 0;
  for (size_t i = prefix.size(); i < mac.size(); ++i) {
    const char c = mac[i];
    if ((i - prefix.size()) % 3 == 2) {
      if (c != ':') return std::nullopt;
      continue;
    }
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    v = v * 16 + static_cast<uint32_t>(d);
  }
  return v;
}

int64_t secondsBetween(Steady::time_point from, Steady::time_point to) {
  return std::chrono::duration_cast<std::chrono::seconds>(to - from).count();
}

}  // namespace

EspEpochClock& realEspEpochClock() {
  static RealClock c;
  return c;
}

EspEpochFiles& realEspEpochFiles() {
  static RealFiles f;
  return f;
}

Status validate(const EspEpochPolicy& p) {
  auto s = [](std::chrono::seconds v) { return std::to_string(v.count()) + " s"; };
  if (p.minInterval < kMinEspRotationInterval || p.minInterval > kMaxEspKeyAge)
    return Error{EINVAL, "kernel ESP key epochs: minimum rotation interval " + s(p.minInterval) +
                             " is outside " + s(kMinEspRotationInterval) + ".." + s(kMaxEspKeyAge)};
  if (p.maxAge < p.minInterval || p.maxAge > kMaxEspKeyAge)
    return Error{EINVAL, "kernel ESP key epochs: rotation every " + s(p.maxAge) + " is outside " +
                             s(p.minInterval) + ".." + s(kMaxEspKeyAge)};
  if (p.grace < std::chrono::seconds(1) || p.grace > kMaxEspGrace)
    return Error{EINVAL,
                 "kernel ESP key epochs: grace " + s(p.grace) + " is outside 1 s.." + s(kMaxEspGrace)};
  return Status::Ok();
}

// --- this host's state file ---

std::string EspEpochBook::serializeLocked(uint32_t epoch, int64_t startedAt,
                                          const std::set<std::string>& used) const {
  return nlohmann::json{{"version", 1}, {"epoch", epoch}, {"startedAt", startedAt}, {"outUsedBy", used}}
             .dump() +
         "\n";
}

Status EspEpochBook::loadLocked(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Error{EINVAL, o_.path + ": " + why +
                             "; weft will not guess a kernel ESP key epoch (a reused one repeats GCM "
                             "nonces): restore the file, or remove it (the next start begins at the "
                             "clock, above every epoch this host used)"};
  };
  if (text.size() > kMaxEspEpochsFileSize)
    return bad("longer than " + std::to_string(kMaxEspEpochsFileSize) + " bytes");
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  if (!j.contains("version") || j["version"] != 1) return bad("not version 1");
  const auto& e = j.value("epoch", nlohmann::json());
  if (!e.is_number_unsigned() || e.get<uint64_t>() == 0 || e.get<uint64_t>() > kMaxEspEpoch)
    return bad("\"epoch\" is not a number in 1.." + std::to_string(kMaxEspEpoch));
  const auto& t = j.value("startedAt", nlohmann::json());
  if (!t.is_number_integer()) return bad("\"startedAt\" is not a number of seconds");
  const auto& u = j.value("outUsedBy", nlohmann::json());
  if (!u.is_array() || u.size() > kMaxCryptoCapsHosts)
    return bad("\"outUsedBy\" is not a list of at most " + std::to_string(kMaxCryptoCapsHosts) + " hosts");
  std::set<std::string> used;
  for (const auto& p : u) {
    if (!p.is_string() || !IpAddr::parse(p.get<std::string>()))
      return bad("\"outUsedBy\" holds " + p.dump() + ", not a host address");
    used.insert(p.get<std::string>());
  }
  epoch_ = e.get<uint32_t>();
  startedAt_ = t.get<int64_t>();
  // Which of them had an SA is not known: each counts as used.
  used_ = used;
  recorded_ = std::move(used);
  return Status::Ok();
}

std::set<std::string> EspEpochBook::toRecordLocked(const std::string& peer) const {
  std::set<std::string> out = used_;
  out.insert(peer);
  auto add = [&](const std::string& p) {
    if (out.size() < kMaxCryptoCapsHosts) out.insert(p);
  };
  for (const auto& p : recorded_) add(p);
  for (const auto& [p, epochs] : peers_) add(p);
  return out;
}

Result<std::unique_ptr<EspEpochBook>> EspEpochBook::open(Options o) {
  if (auto st = validate(o.policy); !st) return st.error();
  if (!o.clock || !o.files) return Error{EINVAL, "kernel ESP key epochs: no clock or no file access"};
  if (!IpAddr::parse(o.self))
    return Error{EINVAL, "kernel ESP key epochs: this host's address \"" + o.self + "\" is not one"};
  std::unique_ptr<EspEpochBook> b(new EspEpochBook(std::move(o)));
  std::lock_guard<std::mutex> lk(b->mu_);
  const int64_t now = b->o_.clock->unixSeconds();
  auto text = b->o_.files->read(b->o_.path);
  if (text.ok()) {
    if (auto st = b->loadLocked(*text); !st) return st.error();
  } else if (text.code() == ENOENT) {
    // First start, or a wiped state directory: above every epoch this host
    // used, as long as its clock is right (see the header).
    const int64_t start = std::clamp<int64_t>(now, 1, kMaxEspEpoch);
    if (auto st = b->o_.files->writeDurably(b->o_.path, b->serializeLocked(uint32_t(start), now, {})); !st)
      return Error{st.code(),
                   "recording the kernel ESP key epoch in " + b->o_.path + ": " + st.error().message};
    b->epoch_ = static_cast<uint32_t>(start);
    b->startedAt_ = now;
  } else {
    return Error{text.code(), "reading " + b->o_.path + ": " + text.error().message};
  }
  // The epoch's age carries over from the file; a clock that went back (a
  // start time in the future) counts as "just started", and no age counts
  // as more than maxAge.
  const auto age =
      std::chrono::seconds(std::clamp<int64_t>(now - b->startedAt_, 0, b->o_.policy.maxAge.count()));
  b->since_ = b->o_.clock->steady() - age;
  return b;
}

// --- EspEpochSource ---

std::optional<uint32_t> EspEpochBook::outEpoch(const std::string& peer) {
  std::lock_guard<std::mutex> lk(mu_);
  if (waiting_.count(peer)) return std::nullopt;
  return epoch_;
}

Status EspEpochBook::willCreateOut(const std::string& peer, uint32_t epoch) {
  std::lock_guard<std::mutex> lk(mu_);
  if (epoch != epoch_)
    return Error{EINVAL, "kernel ESP: an outbound SA to " + peer + " at epoch " + std::to_string(epoch) +
                             ", but this host's epoch is " + std::to_string(epoch_)};
  if (used_.count(peer)) {
    // Re-created at one epoch, its sequence numbers would restart under the
    // same key: the pair waits for the next rotation, asked for now.
    waiting_.insert(peer);
    wanted_ = true;
    return Error{EEXIST, "kernel ESP: epoch " + std::to_string(epoch) + " was used with " + peer +
                             " before (" + o_.path + "); it waits for the next rotation"};
  }
  if (used_.size() >= kMaxCryptoCapsHosts)
    return Error{ENOSPC, "kernel ESP: already " + std::to_string(used_.size()) + " peers at epoch " +
                             std::to_string(epoch)};
  if (!recorded_.count(peer)) {
    // Recorded with the peers that may come next (see the header): the
    // first new peer at an epoch writes, those after it do not.
    std::set<std::string> record = toRecordLocked(peer);
    if (auto st = o_.files->writeDurably(o_.path, serializeLocked(epoch_, startedAt_, record)); !st)
      return Error{st.code(), "kernel ESP: recording epoch " + std::to_string(epoch) + " with " + peer +
                                  " in " + o_.path + ": " + st.error().message};
    recorded_ = std::move(record);
  }
  used_.insert(peer);
  return Status::Ok();
}

std::set<uint32_t> EspEpochBook::inEpochs(const std::string& peer) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = peers_.find(peer);
  if (it == peers_.end()) return {};
  const PeerEpochs& p = it->second;
  std::set<uint32_t> out{p.current, p.current + 1};  // current <= kMaxEspEpoch: no overflow
  if (p.previous && o_.clock->steady() < p.previousUntil) out.insert(*p.previous);
  return out;
}

bool EspEpochBook::needFresh(const std::string& peer) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!used_.count(peer)) return false;
  wanted_ = true;
  return waiting_.insert(peer).second;
}

uint32_t EspEpochBook::current() const {
  std::lock_guard<std::mutex> lk(mu_);
  return epoch_;
}

// --- records ---

bool EspEpochBook::isRecord(const EndpointRecord& r) {
  return CryptoCaps::isRecordNetwork(r.network) && r.endpoint.rfind(kRecordPrefix, 0) == 0;
}

EndpointRecord EspEpochBook::recordFor(uint32_t epoch, const std::string& owner) {
  char mac[18];
  std::snprintf(mac, sizeof mac, "%s%02x:%02x:%02x:%02x", kEpochMacPrefix, (epoch >> 24) & 0xff,
                (epoch >> 16) & 0xff, (epoch >> 8) & 0xff, epoch & 0xff);
  return EndpointRecord{kCryptoCapsNetwork, hostRecordKey(kRecordPrefix, owner), "", "", mac, owner};
}

EndpointRecord EspEpochBook::record() const { return recordFor(current(), o_.self); }

Status EspEpochBook::apply(const EndpointRecord& r, bool active, bool* changed) {
  if (changed) *changed = false;
  if (!isRecord(r))
    return Error{EINVAL, "kernel ESP epoch record " + r.network + "/" + r.endpoint + ": not " +
                             kCryptoCapsNetwork + "/" + kRecordPrefix + "<host>"};
  if (!ownerNamedByKey(r, kRecordPrefix))
    return Error{EINVAL, "kernel ESP epoch record " + r.endpoint + " with owner \"" + r.vtep +
                             "\" that its key does not name"};
  if (r.vtep == o_.self) return Status::Ok();
  std::lock_guard<std::mutex> lk(mu_);
  if (!active) {
    const bool erased = peers_.erase(r.vtep) > 0;
    if (changed) *changed = erased;
    return Status::Ok();
  }
  auto epoch = macEpoch(r.mac);
  if (!epoch || *epoch == 0 || *epoch > kMaxEspEpoch)
    return Error{EINVAL, "kernel ESP epoch record of " + r.vtep + ": \"" + r.mac + "\" is not " +
                             kEpochMacPrefix + "EE:EE:EE:EE with an epoch in 1.." +
                             std::to_string(kMaxEspEpoch)};
  auto it = peers_.find(r.vtep);
  if (it == peers_.end()) {
    if (peers_.size() >= kMaxCryptoCapsHosts)
      return Error{ENOSPC, "kernel ESP epoch record of " + r.vtep + ": already " +
                               std::to_string(peers_.size()) + " hosts known"};
    peers_.emplace(r.vtep, PeerEpochs{*epoch, std::nullopt, {}});
    if (changed) *changed = true;
    return Status::Ok();
  }
  PeerEpochs& p = it->second;
  if (*epoch == p.current) return Status::Ok();  // published again (a resync)
  if (*epoch < p.current)
    return Error{ERANGE, "kernel ESP epoch record of " + r.vtep + ": epoch " + std::to_string(*epoch) +
                             " is below its epoch " + std::to_string(p.current) +
                             " (a host's epochs only grow); refused until its record is withdrawn"};
  p.previous = p.current;
  p.previousUntil = o_.clock->steady() + o_.policy.grace;
  p.current = *epoch;
  if (changed) *changed = true;
  return Status::Ok();
}

size_t EspEpochBook::peers() const {
  std::lock_guard<std::mutex> lk(mu_);
  return peers_.size();
}

// --- rotation ---

bool EspEpochBook::rotationAllowedLocked(Steady::time_point now) const {
  return now - since_ >= o_.policy.minInterval;
}

Result<EspEpochBook::Rotation> EspEpochBook::rotateLocked(bool force) {
  const auto now = o_.clock->steady();
  if (!rotationAllowedLocked(now)) {
    if (force) wanted_ = true;
    const auto left = o_.policy.minInterval - (now - since_);
    return Rotation{false, epoch_, std::chrono::ceil<std::chrono::seconds>(left)};
  }
  if (epoch_ >= kMaxEspEpoch)
    return Error{ERANGE, "kernel ESP: this host's key epochs are used up (" + std::to_string(epoch_) +
                             " in " + o_.path + ")"};
  const uint32_t next = epoch_ + 1;
  const int64_t at = o_.clock->unixSeconds();
  if (auto st = o_.files->writeDurably(o_.path, serializeLocked(next, at, {})); !st)
    return Error{st.code(), "kernel ESP: recording epoch " + std::to_string(next) + " in " + o_.path + ": " +
                                st.error().message};
  epoch_ = next;
  startedAt_ = at;
  since_ = now;
  used_.clear();
  recorded_.clear();
  waiting_.clear();
  wanted_ = false;
  return Rotation{true, epoch_, std::chrono::seconds(0)};
}

Result<EspEpochBook::Rotation> EspEpochBook::rotate() {
  std::lock_guard<std::mutex> lk(mu_);
  return rotateLocked(true);
}

void EspEpochBook::expireLocked(Steady::time_point now, bool* changed) {
  for (auto& [host, p] : peers_)
    if (p.previous && now >= p.previousUntil) {
      p.previous.reset();
      *changed = true;
    }
}

EspEpochBook::Tick EspEpochBook::tick() {
  std::lock_guard<std::mutex> lk(mu_);
  Tick t;
  const auto now = o_.clock->steady();
  expireLocked(now, &t.changed);
  const bool aged = !used_.empty() && now - since_ >= o_.policy.maxAge;
  if ((wanted_ || aged) && rotationAllowedLocked(now)) {
    auto r = rotateLocked(false);
    if (!r.ok())
      t.error = r.error().message;
    else if (r->rotated)
      t.rotated = t.changed = true;
  }
  return t;
}

nlohmann::json EspEpochBook::status() const {
  std::lock_guard<std::mutex> lk(mu_);
  const auto now = o_.clock->steady();
  const int64_t age = secondsBetween(since_, now);
  nlohmann::json peers = nlohmann::json::object();
  for (const auto& [host, p] : peers_) {
    std::set<uint32_t> in{p.current, p.current + 1};
    int64_t previousFor = 0;
    if (p.previous && now < p.previousUntil) {
      in.insert(*p.previous);
      previousFor = std::max<int64_t>(1, secondsBetween(now, p.previousUntil));
    }
    peers[host] = {{"epoch", p.current}, {"in", in}, {"previousForSeconds", previousFor}};
  }
  int64_t next = used_.empty() && !wanted_ ? -1 : std::max<int64_t>(0, o_.policy.maxAge.count() - age);
  if (wanted_) next = std::max<int64_t>(0, o_.policy.minInterval.count() - age);
  return {{"file", o_.path},
          {"epoch", epoch_},
          {"startedAt", startedAt_},
          {"ageSeconds", age},
          {"rotateEverySeconds", o_.policy.maxAge.count()},
          {"minIntervalSeconds", o_.policy.minInterval.count()},
          {"graceSeconds", o_.policy.grace.count()},
          {"rotationWanted", wanted_},
          {"nextRotationInSeconds", next},
          {"outUsedBy", used_},
          {"outRecordedPeers", recorded_.size()},  // in the file: outUsedBy and the peers expected next
          {"waiting", waiting_},
          {"peers", peers}};
}

}  // namespace weft::driver
