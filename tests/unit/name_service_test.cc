// Names across hosts (services/name_service.h): the engine's names become
// this host's name records and answers; remote names answer only with
// their owner's endpoint record; the responder's replies to good, bad and
// foreign queries. FakeKernel, a scripted engine, a recording cluster.
#include "services/name_service.h"

#include <gtest/gtest.h>

#include "kernel/fake_kernel.h"
#include "services/dns_message.h"

namespace weft::services {
namespace {

IpAddr ip(const char* s) { return *IpAddr::parse(s); }
const std::string kNetId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kIdentity = "subnet:10.0.0.0/24";
const std::string kEp = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const std::string kCid = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

class ScriptedEngine : public engine::EngineSource {
 public:
  Result<engine::NetworkView> network(const std::string& id) override {
    if (down) return Error{ECONNREFUSED, "connect: Connection refused"};
    engine::NetworkView v;
    if (id == kNetId && attached) v.containers[kEp] = kCid;
    if (auto it = extra.find(id); it != extra.end())
      v.containers.insert(it->second.begin(), it->second.end());
    return v;
  }
  Result<std::string> sandboxKey(const std::string&) override { return Error{ENOENT, "unused"}; }
  Result<engine::ContainerNames> containerNames(const std::string& cid) override {
    if (cid != kCid) return Error{ENOENT, "no such container"};
    return names;
  }
  bool down = false, attached = true;
  std::map<std::string, std::map<std::string, std::string>> extra;  // network -> endpoint -> container
  engine::ContainerNames names{"web-1", "web", {{kEp, {"Alias1", "bad alias", "web-1"}}}};
};

class RecordingCluster : public driver::Cluster {
 public:
  void publish(const driver::EndpointRecord&) override {}
  void withdraw(const std::string&, const std::string&) override {}
  void addSeed(const std::string&) override {}
  void publishNames(const driver::EndpointNames& n) override { published.push_back(n); }
  void withdrawNames(const std::string& net, const std::string& ep) override {
    withdrawn.emplace_back(net, ep);
  }
  std::vector<driver::EndpointNames> published;
  std::vector<std::pair<std::string, std::string>> withdrawn;
};

std::vector<uint8_t> query(const std::string& name, uint16_t type) {
  std::vector<uint8_t> m = {0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = std::min(name.find('.', start), name.size());
    m.push_back(static_cast<uint8_t>(dot - start));
    m.insert(m.end(), name.begin() + static_cast<long>(start), name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  m.insert(m.end(), {0, static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type), 0, 1});
  return m;
}
int rcode(const std::vector<uint8_t>& r) { return r.size() >= 4 ? r[3] & 0xf : -1; }
int answers(const std::vector<uint8_t>& r) { return r.size() >= 8 ? r[6] << 8 | r[7] : -1; }

class NameServiceTest : public ::testing::Test {
 protected:
  NameServiceTest()
      : k_("/fake/netns"),
        names_(
            k_, &engine_, "", [this] { return locals_; }, &cluster_, NameConfig{}) {}
  void join() { locals_ = {{kNetId, kIdentity, kEp, "weft-0123456789ab", ip("10.0.0.2"), std::nullopt}}; }

  kernel::FakeKernel k_;
  ScriptedEngine engine_;
  RecordingCluster cluster_;
  std::vector<LocalEndpoint> locals_;
  NameService names_;
};

}  // namespace

TEST_F(NameServiceTest, EngineNamesArePublishedAnsweredAndWithdrawnWhenTheEndpointLeaves) {
  join();
  names_.refresh();
  ASSERT_EQ(cluster_.published.size(), 1u);
  const auto& p = cluster_.published[0];
  EXPECT_EQ(p.network, kIdentity);
  EXPECT_EQ(p.endpoint, kEp);
  EXPECT_EQ(p.ipv4, "10.0.0.2");
  // Name, service, aliases: lower case, invalid ones left out, no repeats.
  EXPECT_EQ(p.names, (std::vector<std::string>{"web-1", "web", "alias1"}));
  for (const char* n : {"web-1", "WEB", "alias1"}) {
    auto r = names_.answer(kIdentity, query(n, kTypeA));
    EXPECT_EQ(rcode(r), 0) << n;
    EXPECT_EQ(answers(r), 1) << n;
  }
  names_.refresh();  // nothing new: nothing sent again
  EXPECT_EQ(cluster_.published.size(), 1u);
  locals_.clear();  // Leave
  names_.refresh();
  ASSERT_EQ(cluster_.withdrawn.size(), 1u);
  EXPECT_EQ(cluster_.withdrawn[0], std::make_pair(kIdentity, kEp));
  EXPECT_EQ(rcode(names_.answer(kIdentity, query("web-1", kTypeA))), 5);  // REFUSED: not ours any more
}

TEST_F(NameServiceTest, ARenameEventRepublishesTheContainersNamesAndOthersAreLeftAlone) {
  join();
  names_.refresh();
  ASSERT_EQ(cluster_.published.size(), 1u);
  engine_.names.name = "api-1";  // docker rename web-1 api-1
  names_.refresh();              // no event yet: a pass does not look again
  EXPECT_EQ(cluster_.published.size(), 1u);
  names_.engineEvent(
      {"container", "rename", "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"});
  names_.refresh();  // another container's event: still not looked at again
  EXPECT_EQ(cluster_.published.size(), 1u);
  names_.engineEvent({"container", "rename", kCid});
  names_.refresh();
  ASSERT_EQ(cluster_.published.size(), 2u);
  EXPECT_EQ(cluster_.published[1].names, (std::vector<std::string>{"api-1", "web", "alias1", "web-1"}));
  EXPECT_EQ(rcode(names_.answer(kIdentity, query("api-1", kTypeA))), 0);
  // The stream coming back looks at everything again; unchanged names are
  // not sent again.
  names_.engineStream(true);
  names_.refresh();
  EXPECT_EQ(cluster_.published.size(), 2u);
  // A container whose names are all gone (none valid) is withdrawn.
  engine_.names = {"bad name", "", {}};
  names_.engineEvent({"network", "connect", kCid});
  names_.refresh();
  ASSERT_EQ(cluster_.withdrawn.size(), 1u);
  EXPECT_EQ(rcode(names_.answer(kIdentity, query("api-1", kTypeA))), 5);
}

TEST_F(NameServiceTest, AnEndpointTheEngineDoesNotListYetIsRetriedAndTheEngineErrorShown) {
  join();
  engine_.attached = false;
  names_.refresh();
  EXPECT_TRUE(cluster_.published.empty());
  engine_.down = true;
  names_.refresh();
  EXPECT_NE(names_.status().why.find("Connection refused"), std::string::npos);
  engine_.down = false;
  engine_.attached = true;
  names_.refresh();
  EXPECT_EQ(cluster_.published.size(), 1u);
  EXPECT_TRUE(names_.status().why.empty());
}

TEST_F(NameServiceTest, TheResponderRefusesOtherNetworksAndForeignNames) {
  join();
  names_.refresh();
  // Another weft network's sandbox does not know the name.
  EXPECT_EQ(rcode(names_.answer("subnet:10.9.0.0/24", query("web-1", kTypeA))), 5);
  // Not a weft name: REFUSED, so Docker's DNS asks its next server.
  EXPECT_EQ(rcode(names_.answer(kIdentity, query("example.com", kTypeA))), 5);
  // A weft name asked for another type: no data, not an error.
  auto r = names_.answer(kIdentity, query("web-1", 16 /*TXT*/));
  EXPECT_EQ(rcode(r), 0);
  EXPECT_EQ(answers(r), 0);
  r = names_.answer(kIdentity, query("web-1", kTypeAaaa));
  EXPECT_EQ(rcode(r), 0);
  EXPECT_EQ(answers(r), 0);
  // Malformed: FORMERR; a response: no reply at all.
  auto bad = query("web-1", kTypeA);
  bad[5] = 3;
  EXPECT_EQ(rcode(names_.answer(kIdentity, bad)), 1);
  auto resp = query("web-1", kTypeA);
  resp[2] |= 0x80;
  EXPECT_TRUE(names_.answer(kIdentity, resp).empty());
  EXPECT_TRUE(names_.answer(kIdentity, std::vector<uint8_t>(5, 0)).empty());
  auto st = names_.status();
  EXPECT_EQ(st.malformed, 3u);
  EXPECT_EQ(st.refused, 2u);
}

TEST_F(NameServiceTest, RemoteNamesNeedTheirOwnersEndpointRecordAndForgeriesAreCounted) {
  driver::EndpointRecord rec{kIdentity, "bbbb", "10.0.0.9/24", "", "02:42:0a:00:00:09", "198.18.0.2"};
  names_.endpointRecord(rec, "198.18.0.2", true);
  names_.applyNames({kIdentity, "bbbb", "198.18.0.2", "10.0.0.9", "", {"db"}}, true);
  auto r = names_.answer(kIdentity, query("db", kTypeA));
  ASSERT_EQ(answers(r), 1);
  EXPECT_EQ(std::vector<uint8_t>(r.end() - 4, r.end()), (std::vector<uint8_t>{10, 0, 0, 9}));
  // Another member writing names for that endpoint: refused, counted.
  names_.applyNames({kIdentity, "bbbb", "198.18.0.3", "10.0.0.9", "", {"evil"}}, true);
  EXPECT_EQ(names_.status().recordsRefused, 1u);
  EXPECT_EQ(rcode(names_.answer(kIdentity, query("evil", kTypeA))), 5);
  // Its withdrawal: gone.
  names_.applyNames({kIdentity, "bbbb", "198.18.0.2", "10.0.0.9", "", {"db"}}, false);
  EXPECT_EQ(rcode(names_.answer(kIdentity, query("db", kTypeA))), 5);
}

TEST_F(NameServiceTest, AServiceWithMoreReplicasThanAUdpReplyHoldsSetsTcAndTcpAnswersThemAll) {
  for (int i = 0; i < 40; ++i) {
    const std::string ep = "ep" + std::to_string(i), owner = "198.18.0." + std::to_string(2 + i % 2);
    const std::string addr = "10.0.0." + std::to_string(10 + i);
    names_.endpointRecord({kIdentity, ep, addr + "/24", "", "02:42:0a:00:00:09", owner}, owner, true);
    names_.applyNames({kIdentity, ep, owner, addr, "", {"web"}}, true);
  }
  auto udp = names_.answer(kIdentity, query("web", kTypeA));
  EXPECT_EQ(rcode(udp), 0);
  EXPECT_EQ(answers(udp), 30);  // what fits in 512 bytes
  EXPECT_EQ(udp[2] & 0x02, 0x02);
  EXPECT_LE(udp.size(), kMaxDnsMessage);
  auto tcp = names_.answer(kIdentity, query("web", kTypeA), Transport::kTcp);
  EXPECT_EQ(answers(tcp), 40);
  EXPECT_EQ(tcp[2] & 0x02, 0);
}

TEST_F(NameServiceTest, AContainerOnTwoWeftNetworksIsNamedOnEachAndResolvesTheNamesOfBoth) {
  const std::string net2 = "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  const std::string identity2 = "subnet:10.1.0.0/24";
  const std::string ep2 = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
  engine_.extra[net2] = {{ep2, kCid}};
  join();
  locals_.push_back({net2, identity2, ep2, "weft-1123456789ab", ip("10.1.0.2"), std::nullopt});
  names_.refresh();
  // Its names on each network answer its address on that network, and only there.
  auto on1 = names_.answer(kIdentity, query("web-1", kTypeA));
  ASSERT_EQ(answers(on1), 1);
  EXPECT_EQ(std::vector<uint8_t>(on1.end() - 4, on1.end()), (std::vector<uint8_t>{10, 0, 0, 2}));
  auto on2 = names_.answer(identity2, query("web-1", kTypeA));
  ASSERT_EQ(answers(on2), 1);
  EXPECT_EQ(std::vector<uint8_t>(on2.end() - 4, on2.end()), (std::vector<uint8_t>{10, 1, 0, 2}));
  EXPECT_EQ(rcode(names_.answer("subnet:10.9.0.0/24", query("web-1", kTypeA))), 5);
  // A remote name on the second network: the container asks the first
  // network's sandbox (its only route) and is answered, being on both...
  names_.endpointRecord({identity2, "bbbb", "10.1.0.9/24", "", "02:42:0a:01:00:09", "198.18.0.2"},
                        "198.18.0.2", true);
  names_.applyNames({identity2, "bbbb", "198.18.0.2", "10.1.0.9", "", {"db"}}, true);
  auto db = names_.answer(kIdentity, query("db", kTypeA), Transport::kUdp, ip("10.0.0.2"));
  ASSERT_EQ(answers(db), 1);
  EXPECT_EQ(std::vector<uint8_t>(db.end() - 4, db.end()), (std::vector<uint8_t>{10, 1, 0, 9}));
  // ...and the same over TCP; another container of the first network only, or an unknown asker, is refused.
  EXPECT_EQ(answers(names_.answer(kIdentity, query("db", kTypeA), Transport::kTcp, ip("10.0.0.2"))), 1);
  EXPECT_EQ(rcode(names_.answer(kIdentity, query("db", kTypeA), Transport::kUdp, ip("10.0.0.7"))), 5);
  EXPECT_EQ(rcode(names_.answer(kIdentity, query("db", kTypeA))), 5);
  // The address must be the container's on the network asked: its address on
  // the second network, presented to the first's sandbox, counts for nothing.
  EXPECT_EQ(rcode(names_.answer(kIdentity, query("db", kTypeA), Transport::kUdp, ip("10.1.0.2"))), 5);
}

TEST_F(NameServiceTest, NamesOfAContainerAreBounded) {
  engine::ContainerNames c;
  c.name = "c";
  for (int i = 0; i < 40; ++i) c.aliases[kEp].push_back("alias-number-" + std::to_string(i));
  auto n = NameService::namesOf(c, kEp);
  EXPECT_LE(n.size(), kMaxNamesPerEndpoint);
  size_t bytes = 0;
  for (const auto& s : n) bytes += s.size() + 1;
  EXPECT_LE(bytes - 1, 255u);
  EXPECT_EQ(n.front(), "c");  // the container's name first: never crowded out
}

TEST(NameServiceOff, WithoutTheEngineNamesAreOffAndJoinGetsNoRoute) {
  kernel::FakeKernel k("/fake/netns");
  NameService names(
      k, nullptr, "ENGINE_SOCKET is empty", [] { return std::vector<LocalEndpoint>{}; }, nullptr,
      NameConfig{});
  names.start();
  EXPECT_FALSE(names.on());
  EXPECT_FALSE(names.joined("e1", "/var/run/docker/netns/abc"));
  auto st = names.status();
  EXPECT_FALSE(st.on);
  EXPECT_EQ(st.why, "ENGINE_SOCKET is empty");
}

TEST_F(NameServiceTest, OnlyAContainersFirstWeftEndpointGetsTheRoute) {
  EXPECT_TRUE(names_.joined("e1", "/var/run/docker/netns/abc"));
  EXPECT_TRUE(names_.joined("e1", "/var/run/docker/netns/abc"));  // Docker may repeat a Join
  EXPECT_FALSE(names_.joined("e2", "/var/run/docker/netns/abc"));
  EXPECT_TRUE(names_.joined("e3", "/var/run/docker/netns/def"));
  names_.left("e1");
  EXPECT_TRUE(names_.joined("e4", "/var/run/docker/netns/abc"));
}

}  // namespace weft::services
