// The lease messages of the IPC protocol: they survive their encoder and
// decoder, and the decoders refuse what a compromised sidecar could send.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cluster/ipc_messages.h"

using namespace weft;
using namespace weft::cluster::ipc;

namespace {

const Lease kLease{"10.60.0.0/24", 7, "198.18.0.2", 1700000000000000, true, false, "198.18.0.3@1699"};

std::string leaseEventWith(const std::string& field, const nlohmann::json& value) {
  auto j = nlohmann::json::parse(encode(FromSidecar{LeaseEvent{true, kLease}}));
  if (value.is_null())
    j.erase(field);
  else
    j[field] = value;
  return j.dump();
}

}  // namespace

TEST(IpcLeases, RoundTrip) {
  auto m = decodeToSidecar(encode(ToSidecar{LeaseMsg{kLease, true}}));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(std::get<LeaseMsg>(*m), (LeaseMsg{kLease, true}));
  auto e = decodeFromSidecar(encode(FromSidecar{LeaseEvent{false, kLease}}));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(std::get<LeaseEvent>(*e), (LeaseEvent{false, kLease}));
  auto mem = decodeFromSidecar(encode(FromSidecar{MemberEvent{"198.18.0.3", false}}));
  ASSERT_TRUE(mem.ok()) << mem.error().message;
  EXPECT_EQ(std::get<MemberEvent>(*mem), (MemberEvent{"198.18.0.3", false}));
  Lease fromPlugin = kLease;
  fromPlugin.owner.clear();  // the sidecar publishes under its own id
  EXPECT_TRUE(decodeToSidecar(encode(ToSidecar{LeaseMsg{fromPlugin, false}})).ok());
}

TEST(IpcLeases, RefusesMalformedLeases) {
  EXPECT_TRUE(decodeFromSidecar(leaseEventWith("block", kMaxLeaseBlocks - 1)).ok());
  auto big = decodeFromSidecar(leaseEventWith("block", kMaxLeaseBlocks));
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("block"), std::string::npos) << big.error().message;
  EXPECT_FALSE(decodeFromSidecar(leaseEventWith("block", -1)).ok());
  EXPECT_FALSE(decodeFromSidecar(leaseEventWith("pool", "10.60.0.1/24")).ok());  // host bits
  EXPECT_FALSE(decodeFromSidecar(leaseEventWith("pool", "ten")).ok());
  EXPECT_FALSE(decodeFromSidecar(leaseEventWith("owner", "")).ok());  // events name their owner
  EXPECT_FALSE(decodeFromSidecar(leaseEventWith("owner", std::string(kMaxName + 1, 'o'))).ok());
  EXPECT_FALSE(decodeFromSidecar(leaseEventWith("owner", "a\nb")).ok());
  EXPECT_FALSE(decodeFromSidecar(leaseEventWith("takeoverOf", "nobody")).ok());
  EXPECT_FALSE(decodeFromSidecar(leaseEventWith("claimedAt", "soon")).ok());
  EXPECT_FALSE(decodeFromSidecar(leaseEventWith("used", nullptr)).ok());
  EXPECT_FALSE(decodeFromSidecar(R"({"event":"member","id":"","alive":true})").ok());
}
