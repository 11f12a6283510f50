// weft-gossip: the control-plane sidecar. Started by weft-plugin with the
// IPC channel as fd 3 (--ipc-fd). It parses untrusted packets, so once its
// sockets are bound it gives up root and every capability.

#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "common/log.h"
#include "gossip/daemon/auth_audit.h"
#include "gossip/daemon/event_loop.h"
#include "gossip/daemon/ipc.h"
#include "gossip/daemon/privileges.h"
#include "gossip/daemon/socket_transport.h"
#include "gossip/keyring.h"
#include "gossip/node.h"

using Json = nlohmann::json;
using namespace weft;
using namespace weft::gossip;

namespace {

std::string hostOf(const std::string& hostPort) {
  if (!hostPort.empty() && hostPort[0] == '[') return hostPort.substr(1, hostPort.find(']') - 1);
  return hostPort.substr(0, hostPort.rfind(':'));
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
    StreamHello ok = node->acceptStreamHello(from, hello);
    if (authFailures() > before) audit.record(hostOf(from), clock_.now());
    return ok;
  }
  GossipNode* node = nullptr;
  AuthAudit audit;

 private:
  uint64_t authFailures() const { return node ? node->stats().forged + node->stats().wrongLabel : 0; }
  SocketTransport& inner_;
  Clock& clock_;
};

Json recordJson(const EndpointRecord& r, bool active) {
  return {{"event", "record"},      {"active", active}, {"network", r.network},
          {"endpoint", r.endpoint}, {"ipv4", r.ipv4},   {"ipv6", r.ipv6},
          {"mac", r.mac},           {"vtep", r.vtep},   {"owner", r.owner}};
}

int fail(int ipc, const std::string& msg) {
  LOG_ERROR("gossip", msg);
  ipcSend(ipc, Json{{"event", "error"}, {"message", msg}}.dump());
  return 1;
}

std::string str(const Json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A local endpoint as the plugin sends it ({"op":"publish",...}).
EndpointRecord recordFrom(const Json& m) {
  EndpointRecord r;
  r.network = str(m, "network");
  r.endpoint = str(m, "endpoint");
  r.ipv4 = str(m, "ipv4");
  r.ipv6 = str(m, "ipv6");
  r.mac = str(m, "mac");
  r.vtep = str(m, "vtep");
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int ipc = 3;
  pid_t parent = 0;  // weft-plugin; 0: whoever started us
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--ipc-fd") && i + 1 < argc)
      ipc = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--parent-pid") && i + 1 < argc)
      parent = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--log-level") && i + 1 < argc) {
      log::Level l;
      if (log::parseLevel(argv[++i], &l)) log::setLevel(l);
    } else {
      std::fprintf(stderr,
                   "usage: weft-gossip [--ipc-fd N] [--parent-pid P] [--log-level L]\n"
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

  auto first = ipcRecv(ipc);
  if (!first.ok()) return fail(ipc, "no configuration from weft-plugin: " + first.error().message);
  Json cfg = Json::parse(*first, nullptr, false);
  if (cfg.is_discarded() || str(cfg, "op") != "config")
    return fail(ipc, "first message must be the configuration");

  Keyring keyring;
  if (!cfg.contains("keys") || !cfg["keys"].is_array() || cfg["keys"].empty())
    return fail(ipc, "no cluster key in the configuration");
  for (const auto& k : cfg["keys"]) {
    auto key = parseKey(k.is_string() ? k.get<std::string>() : "");
    if (!key.ok()) return fail(ipc, "bad cluster key: " + key.error().message);
    if (keyring.empty())
      keyring = Keyring(*key);
    else
      keyring.add(*key);
  }

  EventLoop loop;
  SocketTransport sockets(loop);
  if (auto st = sockets.bind(str(cfg, "bind")); !st)
    return fail(ipc, "cannot listen for gossip on " + str(cfg, "bind") + ": " + st.error().message);
  if (auto st = dropPrivileges(); !st) return fail(ipc, "cannot drop privileges: " + st.error().message);
  // Changing credentials clears the parent-death signal: set it again.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) return 1;

  AuditingTransport transport(sockets, loop);
  NodeConfig nc;
  nc.id = str(cfg, "id");
  nc.addr = canonicalHostPort(str(cfg, "advertise"));
  if (cfg.contains("label") && cfg["label"].is_string()) nc.label = cfg["label"];
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
  node.onRecordChange = [ipc](const EndpointRecord& r, bool active) {
    ipcSend(ipc, recordJson(r, active).dump());
  };
  node.start();
  // The plugin's endpoints first, so the join below already says which
  // networks this node carries and the full sync brings their records.
  if (cfg.contains("publish") && cfg["publish"].is_array())
    for (const auto& m : cfg["publish"]) {
      if (m.is_object()) node.publish(recordFrom(m));
    }
  std::vector<std::string> seeds;
  if (cfg.contains("seeds") && cfg["seeds"].is_array())
    for (const auto& s : cfg["seeds"])
      if (s.is_string() && canonicalHostPort(s.get<std::string>()) != nc.addr)
        seeds.push_back(canonicalHostPort(s.get<std::string>()));
  if (!seeds.empty()) node.join(seeds);
  const std::string fingerprint = keyFingerprint(keyring.primary());
  ipcSend(ipc, Json{{"event", "ready"}, {"id", nc.id}, {"keyFingerprint", fingerprint}}.dump());
  LOG_INFO("gossip", "node " << nc.id << " listening on " << str(cfg, "bind") << " (key " << fingerprint
                             << "), " << seeds.size() << " seed(s); running without privileges");

  // Periodically: re-join seeds while alone (and say so), and say who fails
  // to authenticate.
  int aloneTicks = 0;
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
                               << fingerprint << ") and that TCP+UDP "
                               << str(cfg, "bind").substr(str(cfg, "bind").rfind(':') + 1)
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

  loop.watch(ipc, EPOLLIN, [&](uint32_t ev) {
    auto msg = ipcRecv(ipc);
    if (!msg.ok()) {
      // The plugin stopped or is being restarted or upgraded. Do not leave:
      // the other hosts keep this host's endpoints programmed, and the next
      // sidecar rejoins with a newer incarnation.
      LOG_INFO("gossip", "weft-plugin closed the channel; stopping without leaving the cluster");
      loop.stop();
      return;
    }
    Json m = Json::parse(*msg, nullptr, false);
    if (m.is_discarded() || !m.is_object()) {
      LOG_WARN("gossip", "ignoring a malformed message from weft-plugin");
      return;
    }
    std::string op = str(m, "op");
    if (op == "publish") {
      node.publish(recordFrom(m));
    } else if (op == "withdraw") {
      node.withdraw(str(m, "network"), str(m, "endpoint"));
    } else if (op == "seeds") {
      std::vector<std::string> more;
      if (m.contains("seeds") && m["seeds"].is_array())
        for (const auto& s : m["seeds"])
          if (s.is_string() && canonicalHostPort(s.get<std::string>()) != nc.addr)
            more.push_back(canonicalHostPort(s.get<std::string>()));
      for (const auto& s : more)
        if (std::find(seeds.begin(), seeds.end(), s) == seeds.end()) seeds.push_back(s);
      if (!more.empty()) node.join(more);
    } else if (op == "status") {
      Json members = Json::array();
      size_t aliveOthers = 0;
      for (const auto& [id, mem] : node.membership().members()) {
        if (id != nc.id && mem.state == MemberState::kAlive) ++aliveOthers;
        members.push_back({{"id", id},
                           {"addr", mem.addr},
                           {"state", describe(mem.state)},
                           {"incarnation", mem.incarnation}});
      }
      const auto& s = node.stats();
      const auto& ts = sockets.stats();
      Json transportStats = {
          {"helloFailures", ts.helloFailures},           {"helloDropped", ts.helloDropped},
          {"helloTimeouts", ts.helloTimeouts},           {"oversizedFrames", ts.oversizedFrames},
          {"refusedConnections", ts.refusedConnections}, {"unauthConnections", ts.unauthConns},
          {"unauthConnectionsPeak", ts.unauthConnsPeak}, {"unauthBytes", ts.unauthBytes},
          {"unauthBytesPeak", ts.unauthBytesPeak},       {"unauthConnBytesPeak", ts.unauthConnBytesPeak}};
      Json auth = Json::object();
      for (const auto& [host, src] : transport.audit.sources()) auth[host] = src.failures;
      ipcSend(ipc, Json{{"event", "status"},
                        {"id", nc.id},
                        {"aloneSeconds", aloneTicks * 2},
                        {"keyFingerprint", fingerprint},
                        {"members", members},
                        {"networks", node.networks()},
                        {"authFailuresByHost", auth},
                        {"authFailuresTotal", transport.audit.total()},
                        {"authFailuresOtherHosts", transport.audit.untracked()},
                        {"transport", transportStats},
                        {"refusedBy", sockets.refusedBy()},
                        {"authProblem",
                         describeAuthProblem(aliveOthers, sockets.refusedBy(), transport.audit, fingerprint)},
                        {"stats",
                         {{"packetsSent", s.packetsSent},
                          {"bytesSent", s.bytesSent},
                          {"packetsReceived", s.packetsReceived},
                          {"bytesReceived", s.bytesReceived},
                          {"forged", s.forged},
                          {"replayed", s.replayed},
                          {"misdirected", s.misdirected},
                          {"staleSession", s.staleSession},
                          {"wrongLabel", s.wrongLabel},
                          {"malformed", s.malformed},
                          {"recordsApplied", s.recordsApplied},
                          {"droppedSends", sockets.droppedSends()}}}}
                       .dump());
    } else {
      LOG_WARN("gossip", "ignoring unknown op \"" << op << "\" from weft-plugin");
    }
    (void)ev;
  });
  loop.run();
  return 0;
}
