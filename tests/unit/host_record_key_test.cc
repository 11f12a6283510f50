// The endpoint keys of the records each host publishes about itself
// (driver/host_record_key.h). They travel over the gossip between hosts of
// different weft versions, so the exact strings are pinned here: a change
// that fails this test breaks mixed-version clusters.

#include "driver/host_record_key.h"

#include <gtest/gtest.h>

#include "driver/crypto_select.h"
#include "driver/esp_epochs.h"
#include "driver/ipam_pool_names.h"
#include "driver/network_mtus.h"

namespace weft::driver {
namespace {

const std::string kV4 = "198.18.0.7", kV6 = "fd00::3", kV6Long = "2001:db8::a:1";

TEST(HostRecordKey, IsTheKindAndTheOwnerWithColonsAsDashes) {
  EXPECT_EQ(hostRecordKey("esp.", kV4), "esp.198.18.0.7");
  EXPECT_EQ(hostRecordKey("esp.", kV6), "esp.fd00--3");
  EXPECT_EQ(hostRecordKey("caps.", kV6Long), "caps.2001-db8--a-1");
  EXPECT_EQ(hostRecordKey("", "::1"), "--1");
}

TEST(HostRecordKey, EveryKindOnTheWireKeepsItsReleasedKey) {
  EXPECT_EQ(EspEpochBook::recordFor(9, kV4).endpoint, "esp.198.18.0.7");
  EXPECT_EQ(EspEpochBook::recordFor(9, kV6Long).endpoint, "esp.2001-db8--a-1");
  EXPECT_EQ(CryptoCaps::record({true}, kV4).endpoint, "caps.198.18.0.7");
  EXPECT_EQ(CryptoCaps::record({false}, kV6Long).endpoint, "caps.2001-db8--a-1");
  EXPECT_EQ(NetworkMtus::record("name:n", 1450, kV4).endpoint, "mtu.198.18.0.7");
  EXPECT_EQ(NetworkMtus::record("name:n", 1450, kV6).endpoint, "mtu.fd00--3");
  EXPECT_EQ(PoolNames::record("p", {"10.1.0.0/24", ""}, kV4).endpoint, "pool.198.18.0.7");
  EXPECT_EQ(PoolNames::record("p", {"10.1.0.0/24", ""}, kV6).endpoint, "pool.fd00--3");
}

TEST(HostRecordKey, ARecordIsItsOwnersOnlyUnderItsOwnersKey) {
  EndpointRecord r{kCryptoCapsNetwork, "esp.fd00--3", "", "", "02:00:00:00:00:09", kV6};
  EXPECT_TRUE(ownerNamedByKey(r, "esp."));
  EXPECT_FALSE(ownerNamedByKey(r, "caps."));  // another kind's key
  r.vtep = "fd00::4";                         // speaks for another host
  EXPECT_FALSE(ownerNamedByKey(r, "esp."));
  r = {kCryptoCapsNetwork, "esp.not-an-address", "", "", "", "not-an-address"};
  EXPECT_FALSE(ownerNamedByKey(r, "esp."));  // the owner must be an address
}

}  // namespace
}  // namespace weft::driver
