// weft-gossip: the control-plane sidecar. Started by weft-plugin with the
// IPC channel as fd 3 (--ipc-fd). It parses untrusted packets, so once its
// sockets are bound it gives up root and every capability.

#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "cluster/ipc_channel.h"
#include "cluster/ipc_messages.h"
#include "cluster/sidecar_launcher.h"
#include "common/host_port.h"
#include "common/log.h"
#include "gossip/daemon/auth_audit.h"
#include "gossip/daemon/event_loop.h"
#include "gossip/daemon/lease_records.h"
#include "gossip/daemon/mcast_records.h"
#include "gossip/daemon/name_records.h"
#include "gossip/daemon/privileges.h"
#include "gossip/daemon/socket_transport.h"
#include "gossip/keyring.h"
#include "gossip/node.h"

using namespace weft;
using namespace weft::gossip;
namespace ipc = weft::cluster::ipc;

namespace {

// The transport names peers by formatHostPort(), so this always parses.
std::string hostOf(const std::string& hostPort) {
  auto hp = HostPort::parse(hostPort);
  return hp ? hp->addr.str() : hostPort;
}

// Counts, per source host, packets that failed authentication, so the status
// can say who is knocking with the wrong key (bounded: AuthAudit).
class AuditingTransport : public Transport {
 public:
  AuditingTransport(SocketTransport& inner, Clock& clock) : inner_(inner), clock_(clock) {}
  void sendDatagram(const std::string& to, std::vector<uint8_t> p) override {
    inner_.sendDatagram(to, std::move(p));
  }
  void sendStream(const std::string& to, std::vector<uint8_t> f) override {
    inner_.sendStream(to, std::move(f));
  }
  void setHandler(Handler h) override {
    inner_.setHandler([this, h](const std::string& from, std::vector<uint8_t> data, bool stream) {
      uint64_t before = authFailures();
      h(from, std::move(data), stream);
      if (authFailures() > before) audit.record(hostOf(from), clock_.now());
    });
  }
  // The hello that opens an incoming stream, audited like any packet.
  StreamHello verifyHello(const std::string& from, std::span<const uint8_t> hello) {
    if (!node) return StreamHello::kDropped;
    uint64_t before = authFailures();
    StreamHello verdict = node->acceptStreamHello(from, hello);
    if (authFailures() > before) audit.record(hostOf(from), clock_.now());
    return verdict;
  }
  GossipNode* node = nullptr;
  AuthAudit audit;

 private:
  uint64_t authFailures() const { return node ? node->stats().forged + node->stats().wrongLabel : 0; }
  SocketTransport& inner_;
  Clock& clock_;
};

static_assert(kMaxAuditedSources <= ipc::kMaxList, "authFailuresByHost must fit the status");

void send(int fd, const ipc::FromSidecar& m) { ipc::send(fd, ipc::encode(m)); }

int fail(int fd, const std::string& msg) {
  LOG_ERROR("gossip", msg);
  send(fd, ipc::ErrorEvent{msg});
  return 1;
}

ipc::Record toIpc(const EndpointRecord& r) { return {r.network, r.endpoint, r.ipv4, r.ipv6, r.mac, r.vtep}; }

// A local endpoint as the plugin publishes it.
EndpointRecord fromIpc(const ipc::Record& m) {
  EndpointRecord r;
  std::tie(r.network, r.endpoint, r.ipv4, r.ipv6, r.mac, r.vtep) =
      std::tie(m.network, m.endpoint, m.ipv4, m.ipv6, m.mac, m.vtep);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int ipc = 3;
  pid_t parent = 0;  // weft-plugin; 0: whoever started us
  // Ids to drop to: weft-gossip's own (see cluster/sidecar_launcher.h).
  long uid = cluster::kDefaultSidecarUid, gid = cluster::kDefaultSidecarGid;
  auto id = [](const char* s, long* out) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v >= 4294967295L) return false;
    *out = v;
    return true;
  };
  bool badId = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--ipc-fd") && i + 1 < argc)
      ipc = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--parent-pid") && i + 1 < argc)
      parent = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--uid") && i + 1 < argc)
      badId |= !id(argv[++i], &uid);
    else if (!std::strcmp(argv[i], "--gid") && i + 1 < argc)
      badId |= !id(argv[++i], &gid);
    else if (!std::strcmp(argv[i], "--log-level") && i + 1 < argc) {
      log::Level l;
      if (log::parseLevel(argv[++i], &l)) log::setLevel(l);
    } else if (!std::strcmp(argv[i], "--log-format") && i + 1 < argc) {
      log::Format f;
      if (log::parseFormat(argv[++i], &f)) log::setFormat(f);
    } else {
      std::fprintf(
          stderr,
          "usage: weft-gossip [--ipc-fd N] [--parent-pid P] [--log-level L] [--log-format text|json] "
          "[--uid U] [--gid G]\n"
          "weft-gossip is started by weft-plugin; it is not run by hand.\n");
      return 2;
    }
  }
  // Never outlive the plugin (which may itself be process 1 of a managed
  // plugin's pid namespace, so "parent is 1" proves nothing).
  if (parent == 0) parent = ::getppid();
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) return 1;  // the plugin died before we got here
  signal(SIGPIPE, SIG_IGN);
  if (badId) return fail(ipc, "--uid and --gid must be numbers from 1 to 4294967294");

  auto first = ipc::recv(ipc);
  if (!first.ok()) return fail(ipc, "no configuration from weft-plugin: " + first.error().message);
  auto firstMsg = ipc::decodeToSidecar(*first);
  if (!firstMsg.ok()) return fail(ipc, "bad configuration from weft-plugin: " + firstMsg.error().message);
  const auto* cfgp = std::get_if<ipc::ConfigMsg>(&*firstMsg);
  if (!cfgp) return fail(ipc, "first message must be the configuration");
  const ipc::ConfigMsg cfg = *cfgp;

  Keyring keyring;
  for (const auto& k : cfg.keys) {
    auto key = parseKey(k);
    if (!key.ok()) return fail(ipc, "bad cluster key: " + key.error().message);
    if (keyring.empty())
      keyring = Keyring(*key);
    else
      keyring.add(*key);
  }

  EventLoop loop;
  SocketTransport sockets(loop);
  if (auto st = sockets.bind(cfg.bind); !st)
    return fail(ipc, "cannot listen for gossip on " + cfg.bind + ": " + st.error().message);
  if (auto st = dropPrivileges(static_cast<uid_t>(uid), static_cast<gid_t>(gid)); !st)
    return fail(ipc, "cannot drop privileges: " + st.error().message);
  // Changing credentials clears the parent-death signal: set it again.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) return 1;

  AuditingTransport transport(sockets, loop);
  NodeConfig nc;
  nc.id = cfg.id;
  nc.addr = canonicalHostPort(cfg.advertise);
  if (!cfg.label.empty()) nc.label = cfg.label;
  nc.reportDeadAsInactive = false;  // keep a dead host's endpoints programmed until it is reaped
  uint64_t epoch = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  std::random_device rd;
  GossipNode node(nc, keyring, transport, loop, (static_cast<uint64_t>(rd()) << 32) | rd(), epoch);
  transport.node = &node;
  sockets.setStreamAuth([&node](const std::string& to) { return node.streamHello(to); },
                        [&transport](const std::string& from, std::span<const uint8_t> hello) {
                          return transport.verifyHello(from, hello);
                        });
  node.onRecordChange = [ipc, &node](const EndpointRecord& r, bool active) {
    if (isNamesNetwork(r.network)) {
      const std::string network = r.network.substr(std::string(kNamesNetworkPrefix).size());
      const EndpointRecord* ep = node.findEndpoint(network, r.endpoint);
      auto names = recordToNames(r, ep ? ep->owner : std::string());
      if (!names.ok()) {  // the plugin checks ownership again, against the endpoint records
        LOG_WARN("gossip", "refusing a names record from " << r.owner << ": " << names.error().message);
        return;
      }
      send(ipc, ipc::NamesEvent{active, *names});
      return;
    }
    if (isMcastNetwork(r.network)) {
      auto m = recordToMcast(r);
      if (!m.ok()) {  // forged or corrupt: the plugin never sees it
        LOG_WARN("gossip", "refusing a multicast record from " << r.owner << ": " << m.error().message);
        return;
      }
      send(ipc, ipc::McastEvent{active, *m});
      return;
    }
    if (!isLeaseNetwork(r.network)) {
      send(ipc, ipc::RecordEvent{active, toIpc(r), r.owner});
      return;
    }
    auto lease = recordToLease(r);
    if (!lease.ok()) {  // the plugin validates again; refused here, said here
      LOG_WARN("gossip", "refusing a lease record from " << r.owner << ": " << lease.error().message);
      return;
    }
    send(ipc, ipc::LeaseEvent{active, *lease});
  };
  node.onMemberChange = [ipc](const std::string& id, bool alive) { send(ipc, ipc::MemberEvent{id, alive}); };
  node.start();
  // The plugin's endpoints first (one message each, until StartMsg), so the
  // join below already says which networks this node carries and the full
  // sync brings their records.
  for (;;) {
    auto text = ipc::recv(ipc);
    if (!text.ok()) return fail(ipc, "configuration from weft-plugin cut short: " + text.error().message);
    auto m = ipc::decodeToSidecar(*text);
    if (!m.ok()) return fail(ipc, "bad configuration from weft-plugin: " + m.error().message);
    if (std::holds_alternative<ipc::StartMsg>(*m)) break;
    const auto* pub = std::get_if<ipc::PublishMsg>(&*m);
    if (!pub) return fail(ipc, "only endpoints may follow the configuration");
    node.publish(fromIpc(pub->record));
  }
  std::vector<std::string> seeds;
  for (const auto& s : cfg.seeds)
    if (canonicalHostPort(s) != nc.addr) seeds.push_back(canonicalHostPort(s));
  if (!seeds.empty()) node.join(seeds);
  const std::string fingerprint = keyFingerprint(keyring.primary());
  send(ipc, ipc::ReadyEvent{nc.id, fingerprint});
  LOG_INFO("gossip", "node " << nc.id << " listening on " << cfg.bind << " (key " << fingerprint << "), "
                             << seeds.size() << " seed(s); running without privileges");

  // Periodically: re-join seeds while alone (and say so), and say who fails
  // to authenticate.
  int aloneTicks = 0;
  // bind() above has parsed cfg.bind, so it has a port.
  const uint16_t bindPort = HostPort::parse(cfg.bind)->port;
  std::function<void()> housekeeping = [&] {
    size_t others = 0;
    for (const auto& [id, m] : node.membership().members())
      if (id != nc.id && m.state == MemberState::kAlive) ++others;
    if (others == 0 && !seeds.empty()) {
      node.join(seeds);
      if (++aloneTicks % 5 == 0) {
        std::string list;
        for (const auto& s : seeds) list += (list.empty() ? "" : ", ") + s;
        LOG_WARN("gossip", "no other host has answered for "
                               << aloneTicks * 2 << " s (seeds " << list
                               << "); if they are up, check that they use the same cluster key (ours has "
                                  "fingerprint "
                               << fingerprint << ") and that TCP+UDP " << bindPort
                               << " pass between the hosts");
      }
    } else {
      aloneTicks = 0;
    }
    transport.audit.expire(loop.now());
    if (auto line = transport.audit.summary(loop.now(), fingerprint)) LOG_WARN("gossip", *line);
    loop.schedule(std::chrono::seconds(2), housekeeping);
  };
  loop.schedule(std::chrono::seconds(2), housekeeping);

  loop.watch(ipc, EPOLLIN, [&](uint32_t) {
    auto text = ipc::recv(ipc);
    if (!text.ok()) {
      // The plugin stopped or is being restarted or upgraded. Do not leave:
      // the other hosts keep this host's endpoints programmed, and the next
      // sidecar rejoins with a newer incarnation.
      LOG_INFO("gossip", "weft-plugin closed the channel; stopping without leaving the cluster");
      loop.stop();
      return;
    }
    auto msg = ipc::decodeToSidecar(*text);
    if (!msg.ok()) {
      LOG_WARN("gossip", "ignoring a message from weft-plugin: " << msg.error().message);
      return;
    }
    if (const auto* pub = std::get_if<ipc::PublishMsg>(&*msg)) {
      node.publish(fromIpc(pub->record));
    } else if (const auto* lease = std::get_if<ipc::LeaseMsg>(&*msg)) {
      if (lease->withdraw)
        node.withdraw(leaseNetwork(lease->lease.pool), leaseKey(lease->lease.block, nc.id));
      else
        node.publish(leaseToRecord(lease->lease, nc.id));
    } else if (const auto* names = std::get_if<ipc::NamesMsg>(&*msg)) {
      if (names->withdraw)
        node.withdraw(namesNetwork(names->names.network), names->names.endpoint);
      else
        node.publish(namesToRecord(names->names));
    } else if (const auto* mc = std::get_if<ipc::McastMsg>(&*msg)) {
      if (mc->withdraw)
        node.withdraw(mcastNetwork(mc->mcast.network), nc.id);
      else
        node.publish(mcastToRecord(mc->mcast, nc.id));
    } else if (const auto* wd = std::get_if<ipc::WithdrawMsg>(&*msg)) {
      node.withdraw(wd->network, wd->endpoint);
    } else if (const auto* sm = std::get_if<ipc::SeedsMsg>(&*msg)) {
      std::vector<std::string> more;
      for (const auto& s : sm->seeds)
        if (canonicalHostPort(s) != nc.addr) more.push_back(canonicalHostPort(s));
      for (const auto& s : more)
        if (std::find(seeds.begin(), seeds.end(), s) == seeds.end()) seeds.push_back(s);
      if (!more.empty()) node.join(more);
    } else if (const auto* ping = std::get_if<ipc::PingMsg>(&*msg)) {
      send(ipc, ipc::PongEvent{ping->seq});  // from the loop: proves it turns
    } else if (std::holds_alternative<ipc::StatusRequest>(*msg)) {
      ipc::StatusEvent st;
      st.id = nc.id;
      st.aloneSeconds = static_cast<uint64_t>(aloneTicks) * 2;
      st.keyFingerprint = fingerprint;
      size_t aliveOthers = 0;
      for (const auto& [id, mem] : node.membership().members()) {
        st.members.push_back({id, mem.addr, describe(mem.state), mem.incarnation});
        if (id != nc.id && mem.state == MemberState::kAlive) ++aliveOthers;
      }
      for (const auto& n : node.networks()) st.networks.push_back(n);
      for (const auto& [host, src] : transport.audit.sources()) st.authFailuresByHost[host] = src.failures;
      st.refusedBy = sockets.refusedBy();
      st.authProblem = describeAuthProblem(aliveOthers, sockets.refusedBy(), transport.audit, fingerprint);
      const auto& s = node.stats();
      st.stats = {{"packetsSent", s.packetsSent},
                  {"bytesSent", s.bytesSent},
                  {"packetsReceived", s.packetsReceived},
                  {"bytesReceived", s.bytesReceived},
                  {"forged", s.forged},
                  {"replayed", s.replayed},
                  {"wrongLabel", s.wrongLabel},
                  {"malformed", s.malformed},
                  {"recordsApplied", s.recordsApplied},
                  {"droppedSends", sockets.droppedSends()},
                  {"misdirected", s.misdirected},
                  {"staleSession", s.staleSession},
                  {"authFailuresTotal", transport.audit.total()},
                  {"authFailuresOtherHosts", transport.audit.untracked()}};
      const auto& ts = sockets.stats();
      for (const auto& [name, value] : std::initializer_list<std::pair<const char*, uint64_t>>{
               {"helloFailures", ts.helloFailures},
               {"helloDropped", ts.helloDropped},
               {"helloTimeouts", ts.helloTimeouts},
               {"oversizedFrames", ts.oversizedFrames},
               {"refusedConnections", ts.refusedConnections},
               {"unauthConnections", ts.unauthConns},
               {"unauthConnectionsPeak", ts.unauthConnsPeak},
               {"unauthBytes", ts.unauthBytes},
               {"unauthBytesPeak", ts.unauthBytesPeak},
               {"unauthConnBytesPeak", ts.unauthConnBytesPeak}})
        st.stats[name] = value;
      const auto& ms = node.membership().stats();
      for (const auto& [name, value] :
           std::initializer_list<std::pair<const char*, uint64_t>>{{"probes", ms.probes},
                                                                   {"probeFailures", ms.probeFailures},
                                                                   {"suspicions", ms.suspicionsRaised},
                                                                   {"refutations", ms.refutations},
                                                                   {"deadDeclared", ms.deadDeclared}})
        st.stats[name] = value;
      // (weft-plugin decodes at most 64 counters: 53 now.)
      // By message kind: msgSent.ping, msgReceived.ack, ... (weft-plugin's
      // weft_gossip_messages_total{type,direction}).
      for (size_t t = 0; t < kMessageTypes; ++t) {
        st.stats[std::string("msgSent.") + messageTypeName(t)] = s.messagesSent[t];
        st.stats[std::string("msgReceived.") + messageTypeName(t)] = s.messagesReceived[t];
      }
      send(ipc, st);
    } else {
      LOG_WARN("gossip", "ignoring an unexpected message from weft-plugin (a second configuration?)");
    }
  });
  loop.run();
  return 0;
}
