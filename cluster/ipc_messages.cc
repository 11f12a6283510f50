#include "cluster/ipc_messages.h"

#include <cctype>
#include <set>

#include "cluster/ipc_channel.h"
#include "cluster/ipc_fields.h"
#include "common/dns_name.h"
#include "common/host_port.h"
#include "common/ip.h"
#include "common/json_depth.h"
#include "common/mac.h"

namespace weft::cluster::ipc {

// ---------------------------------------------------------------- forms

bool validIp(std::string_view s) { return IpAddr::parse(s).has_value(); }

bool validCidr(std::string_view s, bool v6) {
  auto p = Prefix::parse(s);
  return p && p->addr.isV6() == v6;
}

bool validMac(std::string_view s) { return MacAddr::parse(s).has_value(); }

bool validHostPort(std::string_view s) { return HostPort::parse(s).has_value(); }

bool validEndpointId(std::string_view s) {
  if (s.empty() || s.size() > kMaxEndpointId) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

namespace {

bool validIpv4Cidr(std::string_view s) { return validCidr(s, false); }
bool validIpv6Cidr(std::string_view s) { return validCidr(s, true); }
bool printable(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  return true;
}
bool validKey(std::string_view s) {
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=') return false;
  return true;
}

// Control characters never reach a log line or a kernel call from here.
void readRecord(Fields& f, Record* r) {
  f.str("network", &r->network, kMaxName, false, printable);
  f.str("endpoint", &r->endpoint, kMaxEndpointId, false, validEndpointId);
  f.str("ipv4", &r->ipv4, 64, true, validIpv4Cidr);
  f.str("ipv6", &r->ipv6, 64, true, validIpv6Cidr);
  f.str("mac", &r->mac, 17, true, validMac);
  f.str("vtep", &r->vtep, 64, true, validIp);
}

void writeRecord(Json& j, const Record& r) {
  j["network"] = r.network;
  j["endpoint"] = r.endpoint;
  j["ipv4"] = r.ipv4;
  j["ipv6"] = r.ipv6;
  j["mac"] = r.mac;
  j["vtep"] = r.vtep;
}

bool validPoolCidr(std::string_view s) {
  auto p = Prefix::parse(s);
  return p && p->hostBitsZero();
}
bool validTakeover(std::string_view s) { return printable(s) && s.find('@') != std::string_view::npos; }

void readLease(Fields& f, Lease* l, bool ownerRequired) {
  f.str("pool", &l->pool, 64, false, validPoolCidr);
  uint64_t block = 0;
  f.u64("block", &block);
  if (f.ok() && block >= kMaxLeaseBlocks)
    f.fail("block", std::to_string(block) + " is not below " + std::to_string(kMaxLeaseBlocks));
  l->block = static_cast<uint32_t>(block);
  f.str("owner", &l->owner, kMaxName, !ownerRequired, printable);
  f.u64("claimedAt", &l->claimedAt);
  f.boolean("used", &l->used);
  f.boolean("released", &l->released);
  f.str("takeoverOf", &l->takeoverOf, kMaxName, true, validTakeover);
}

void writeLease(Json& j, const Lease& l) {
  j["pool"] = l.pool;
  j["block"] = l.block;
  j["owner"] = l.owner;
  j["claimedAt"] = l.claimedAt;
  j["used"] = l.used;
  j["released"] = l.released;
  j["takeoverOf"] = l.takeoverOf;
}

bool validDnsNameForm(std::string_view s) { return weft::validDnsName(s); }

void readNames(Fields& f, Names* n, bool ownerRequired) {
  f.str("network", &n->network, kMaxName, false, printable);
  f.str("endpoint", &n->endpoint, kMaxEndpointId, false, validEndpointId);
  f.str("owner", &n->owner, kMaxName, !ownerRequired, printable);
  f.str("ipv4", &n->ipv4, 64, true, validIp);
  f.str("ipv6", &n->ipv6, 64, true, validIp);
  f.strList("names", &n->names, kMaxDnsName, validDnsNameForm);
  if (f.ok() && !namesFit(n->names))
    f.fail("names", "more than " + std::to_string(kMaxNamesPerSet) + " names or " +
                        std::to_string(kMaxNamesBytes) + " bytes");
  if (f.ok() && n->ipv4.empty() && n->ipv6.empty()) f.fail("ipv4", "names without an address");
  if (f.ok() && !n->ipv4.empty() && IpAddr::parse(n->ipv4)->isV6()) f.fail("ipv4", "an IPv6 address");
  if (f.ok() && !n->ipv6.empty() && !IpAddr::parse(n->ipv6)->isV6()) f.fail("ipv6", "an IPv4 address");
}

void writeNames(Json& j, const Names& n) {
  j["network"] = n.network;
  j["endpoint"] = n.endpoint;
  j["owner"] = n.owner;
  j["ipv4"] = n.ipv4;
  j["ipv6"] = n.ipv6;
  j["names"] = n.names;
}

void readMcast(Fields& f, Mcast* m, bool ownerRequired) {
  f.str("network", &m->network, kMaxName, false, printable);
  f.str("owner", &m->owner, kMaxName, !ownerRequired, printable);
  f.str("vtep", &m->vtep, 64, false, validIp);
  f.strList("groups", &m->groups, 64, validIp);
  f.boolean("all", &m->all);
  if (!f.ok()) return;
  if (auto why = mcastGroupsProblem(*m); !why.empty()) f.fail("groups", why);
}

void writeMcast(Json& j, const Mcast& m) {
  j["network"] = m.network;
  j["owner"] = m.owner;
  j["vtep"] = m.vtep;
  j["groups"] = m.groups;
  j["all"] = m.all;
}

// ---------------------------------------------------------------- encoders

Json toJson(const ConfigMsg& m) {
  return {{"op", "config"},   {"id", m.id},     {"bind", m.bind},  {"advertise", m.advertise},
          {"label", m.label}, {"keys", m.keys}, {"seeds", m.seeds}};
}
Json toJson(const PublishMsg& m) {
  Json j = {{"op", "publish"}};
  writeRecord(j, m.record);
  return j;
}
Json toJson(const StartMsg&) { return {{"op", "start"}}; }
Json toJson(const WithdrawMsg& m) {
  return {{"op", "withdraw"}, {"network", m.network}, {"endpoint", m.endpoint}};
}
Json toJson(const SeedsMsg& m) { return {{"op", "seeds"}, {"seeds", m.seeds}}; }
Json toJson(const StatusRequest&) { return {{"op", "status"}}; }
Json toJson(const PingMsg& m) { return {{"op", "ping"}, {"seq", m.seq}}; }
Json toJson(const LeaseMsg& m) {
  Json j = {{"op", "lease"}, {"withdraw", m.withdraw}};
  writeLease(j, m.lease);
  return j;
}
Json toJson(const LeaseEvent& m) {
  Json j = {{"event", "lease"}, {"active", m.active}};
  writeLease(j, m.lease);
  return j;
}
Json toJson(const NamesMsg& m) {
  Json j = {{"op", "names"}, {"withdraw", m.withdraw}};
  writeNames(j, m.names);
  return j;
}
Json toJson(const NamesEvent& m) {
  Json j = {{"event", "names"}, {"active", m.active}};
  writeNames(j, m.names);
  return j;
}
Json toJson(const McastMsg& m) {
  Json j = {{"op", "mcast"}, {"withdraw", m.withdraw}};
  writeMcast(j, m.mcast);
  return j;
}
Json toJson(const McastEvent& m) {
  Json j = {{"event", "mcast"}, {"active", m.active}};
  writeMcast(j, m.mcast);
  return j;
}
Json toJson(const MemberEvent& m) { return {{"event", "member"}, {"id", m.id}, {"alive", m.alive}}; }

Json toJson(const ReadyEvent& m) {
  return {{"event", "ready"}, {"id", m.id}, {"keyFingerprint", m.keyFingerprint}};
}
Json toJson(const RecordEvent& m) {
  Json j = {{"event", "record"}, {"active", m.active}, {"owner", m.owner}};
  writeRecord(j, m.record);
  return j;
}
Json toJson(const StatusEvent& m) {
  Json members = Json::array();
  for (const auto& mem : m.members)
    members.push_back(
        {{"id", mem.id}, {"addr", mem.addr}, {"state", mem.state}, {"incarnation", mem.incarnation}});
  return {{"event", "status"},
          {"id", m.id},
          {"aloneSeconds", m.aloneSeconds},
          {"keyFingerprint", m.keyFingerprint},
          {"members", members},
          {"networks", m.networks},
          {"authFailuresByHost", m.authFailuresByHost},
          {"stats", m.stats},
          {"refusedBy", m.refusedBy},
          {"authProblem", m.authProblem},
          {"restarts", m.restarts}};
}
Json toJson(const ErrorEvent& m) { return {{"event", "error"}, {"message", m.message}}; }
Json toJson(const PongEvent& m) { return {{"event", "pong"}, {"seq", m.seq}}; }

// Never throws: text that is not UTF-8 (it may come from other hosts) is
// replaced, not refused.
std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// ---------------------------------------------------------------- decoders

Result<ToSidecar> decodeOp(const Json& j, std::string_view op) {
  Fields f(j, op);
  if (op == "config") {
    ConfigMsg m;
    f.str("id", &m.id, kMaxName, false, printable);
    f.str("bind", &m.bind, kMaxName, false, validHostPort);
    f.str("advertise", &m.advertise, kMaxName, false, validHostPort);
    f.str("label", &m.label, kMaxName, true, printable);
    f.strList("keys", &m.keys, 128, validKey);
    f.strList("seeds", &m.seeds, kMaxName, validHostPort);
    if (f.ok() && m.keys.empty()) f.fail("keys", "is empty");
    if (!f.ok()) return f.status().error();
    return ToSidecar{m};
  }
  if (op == "publish") {
    PublishMsg m;
    readRecord(f, &m.record);
    if (!f.ok()) return f.status().error();
    return ToSidecar{m};
  }
  if (op == "start") return ToSidecar{StartMsg{}};
  if (op == "withdraw") {
    WithdrawMsg m;
    f.str("network", &m.network, kMaxName, false, printable);
    f.str("endpoint", &m.endpoint, kMaxEndpointId, false, validEndpointId);
    if (!f.ok()) return f.status().error();
    return ToSidecar{m};
  }
  if (op == "seeds") {
    SeedsMsg m;
    f.strList("seeds", &m.seeds, kMaxName, validHostPort);
    if (!f.ok()) return f.status().error();
    return ToSidecar{m};
  }
  if (op == "status") return ToSidecar{StatusRequest{}};
  if (op == "ping") {
    PingMsg m;
    f.u64("seq", &m.seq);
    if (!f.ok()) return f.status().error();
    return ToSidecar{m};
  }
  if (op == "lease") {
    LeaseMsg m;
    f.boolean("withdraw", &m.withdraw);
    readLease(f, &m.lease, false);
    if (!f.ok()) return f.status().error();
    return ToSidecar{m};
  }
  if (op == "names") {
    NamesMsg m;
    f.boolean("withdraw", &m.withdraw);
    readNames(f, &m.names, false);
    if (!f.ok()) return f.status().error();
    return ToSidecar{m};
  }
  if (op == "mcast") {
    McastMsg m;
    f.boolean("withdraw", &m.withdraw);
    readMcast(f, &m.mcast, false);
    if (!f.ok()) return f.status().error();
    return ToSidecar{m};
  }
  return Error{EBADMSG, "unknown op \"" + std::string(op.substr(0, 32)) + "\""};
}

Result<FromSidecar> decodeEvent(const Json& j, std::string_view event) {
  Fields f(j, event);
  if (event == "ready") {
    ReadyEvent m;
    f.str("id", &m.id, kMaxName, false, printable);
    f.str("keyFingerprint", &m.keyFingerprint, 64, true, printable);
    if (!f.ok()) return f.status().error();
    return FromSidecar{m};
  }
  if (event == "record") {
    RecordEvent m;
    f.boolean("active", &m.active);
    f.str("owner", &m.owner, kMaxName, true, printable);
    readRecord(f, &m.record);
    // What the driver programs needs a MAC and a VTEP (addresses are
    // optional: an endpoint without one is still reachable at layer 2); a
    // withdrawal needs only its key.
    if (f.ok() && m.active) {
      if (m.record.mac.empty()) f.fail("mac", "is empty");
      if (m.record.vtep.empty()) f.fail("vtep", "is empty");
    }
    if (!f.ok()) return f.status().error();
    return FromSidecar{m};
  }
  if (event == "status") {
    StatusEvent m;
    f.str("id", &m.id, kMaxName, false, printable);
    f.u64("aloneSeconds", &m.aloneSeconds);
    f.str("keyFingerprint", &m.keyFingerprint, 64, true, printable);
    f.strList("networks", &m.networks, kMaxName, printable);
    f.counters("authFailuresByHost", &m.authFailuresByHost, kMaxList, kMaxName);
    f.counters("stats", &m.stats, 64, 64);
    // Added after the first typed version: absent in older sidecars' status.
    if (j.contains("refusedBy")) f.counters("refusedBy", &m.refusedBy, kMaxList, kMaxName);
    if (j.contains("authProblem")) f.str("authProblem", &m.authProblem, kMaxText, true, printable);
    f.u64("restarts", &m.restarts);
    if (const Json* members = f.array("members", kMaxList)) {
      for (const auto& item : *members) {
        if (!item.is_object()) {
          f.fail("members", "holds a non-object item");
          break;
        }
        Fields mf(item, "status member");
        MemberInfo mi;
        mf.str("id", &mi.id, kMaxName, false, printable);
        // Shown, never used: a member's odd address must not hide the others.
        mf.str("addr", &mi.addr, kMaxName, true, printable);
        mf.str("state", &mi.state, 32, false, printable);
        mf.u64("incarnation", &mi.incarnation);
        if (!mf.ok()) return mf.status().error();
        m.members.push_back(std::move(mi));
      }
    }
    if (!f.ok()) return f.status().error();
    return FromSidecar{m};
  }
  if (event == "error") {
    ErrorEvent m;
    f.str("message", &m.message, kMaxText, true);
    if (!f.ok()) return f.status().error();
    return FromSidecar{m};
  }
  if (event == "pong") {
    PongEvent m;
    f.u64("seq", &m.seq);
    if (!f.ok()) return f.status().error();
    return FromSidecar{m};
  }
  if (event == "lease") {
    LeaseEvent m;
    f.boolean("active", &m.active);
    readLease(f, &m.lease, true);
    if (!f.ok()) return f.status().error();
    return FromSidecar{m};
  }
  if (event == "names") {
    NamesEvent m;
    f.boolean("active", &m.active);
    readNames(f, &m.names, true);
    if (!f.ok()) return f.status().error();
    return FromSidecar{m};
  }
  if (event == "mcast") {
    McastEvent m;
    f.boolean("active", &m.active);
    readMcast(f, &m.mcast, true);
    if (!f.ok()) return f.status().error();
    return FromSidecar{m};
  }
  if (event == "member") {
    MemberEvent m;
    f.str("id", &m.id, kMaxName, false, printable);
    f.boolean("alive", &m.alive);
    if (!f.ok()) return f.status().error();
    return FromSidecar{m};
  }
  return Error{EBADMSG, "unknown event \"" + std::string(event.substr(0, 32)) + "\""};
}

// The envelope: bounded depth, one JSON object, its kind under `kindKey`.
Result<Json> parseEnvelope(std::string_view text, const char* kindKey, std::string* kind) {
  if (text.size() > kMaxMessage) return Error{EMSGSIZE, "message larger than " + std::to_string(kMaxMessage)};
  if (weft::jsonDepth(text, kMaxNesting) > kMaxNesting)
    return Error{EBADMSG, "message nested deeper than " + std::to_string(kMaxNesting) + " levels"};
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) return Error{EBADMSG, "message is not JSON"};
  if (!j.is_object()) return Error{EBADMSG, "message is not a JSON object"};
  Fields f(j, "message");
  f.str(kindKey, kind, 32, false, printable);
  if (!f.ok()) return f.status().error();
  return j;
}

}  // namespace

bool namesFit(const std::vector<std::string>& names) {
  size_t bytes = 0;
  for (const auto& n : names) bytes += n.size() + (bytes ? 1 : 0);
  return names.size() <= kMaxNamesPerSet && bytes <= kMaxNamesBytes;
}

std::string mcastGroupsProblem(const Mcast& m) {
  size_t v4 = 0, v6 = 0;
  std::set<IpAddr> seen;
  for (const auto& g : m.groups) {
    auto a = IpAddr::parse(g);
    if (!a || (a->isV6() ? a->bytes[0] != 0xff : (a->bytes[0] & 0xf0) != 0xe0))
      return "\"" + g.substr(0, 64) + "\" is not a multicast group";
    if (!seen.insert(*a).second) return "group " + g + " twice";
    ++(a->isV6() ? v6 : v4);
  }
  if (v4 > kMaxMcastV4 || v6 > kMaxMcastV6)
    return "more than " + std::to_string(kMaxMcastV4) + " IPv4 or " + std::to_string(kMaxMcastV6) +
           " IPv6 groups";
  return "";
}

std::string encode(const ToSidecar& m) {
  return std::visit([](const auto& v) { return dump(toJson(v)); }, m);
}
std::string encode(const FromSidecar& m) {
  return std::visit([](const auto& v) { return dump(toJson(v)); }, m);
}

Result<ToSidecar> decodeToSidecar(std::string_view text) {
  std::string op;
  auto j = parseEnvelope(text, "op", &op);
  if (!j.ok()) return j.error();
  return decodeOp(*j, op);
}

Result<FromSidecar> decodeFromSidecar(std::string_view text) {
  std::string event;
  auto j = parseEnvelope(text, "event", &event);
  if (!j.ok()) return j.error();
  return decodeEvent(*j, event);
}

}  // namespace weft::cluster::ipc
