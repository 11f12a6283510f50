// Per-pair backend selection of encrypted networks and the hosts'
// capability records (driver/crypto_select.h): every combination of
// -o weft.crypto, this host's and the peer's capability, symmetry, and that
// no combination ever gives a peer to neither-or-both backends silently.
#include "driver/crypto_select.h"

#include <gtest/gtest.h>

using namespace weft;
using namespace weft::driver;

namespace {

const std::string kA = "198.18.0.1", kB = "198.18.0.2", kC = "fd00::3";
const LocalCrypto kCapable{"", ""};
const LocalCrypto kNoEsp{"its kernel has no ESP (esp4 missing)", ""};

}  // namespace

TEST(CryptoCaps, RecordsRoundTripAndOlderOrUnknownHostsHaveNoKernelEsp) {
  CryptoCaps caps;
  EXPECT_FALSE(caps.of(kA));  // nothing heard: not the same as "cannot"
  ASSERT_TRUE(caps.apply(CryptoCaps::record({true}, kA), true, kB).ok());
  ASSERT_TRUE(caps.apply(CryptoCaps::record({false}, kC), true, kB).ok());
  EXPECT_EQ(CryptoCaps::record({true}, kA).mac, "02:00:00:00:00:01");
  EXPECT_EQ(CryptoCaps::record({false}, kC).endpoint, "caps.fd00--3");
  ASSERT_TRUE(caps.of(kA));
  EXPECT_TRUE(caps.of(kA)->kernelEsp);
  EXPECT_FALSE(caps.of(kC)->kernelEsp);
  // A capability that goes away (the host lost ESP, or left).
  ASSERT_TRUE(caps.apply(CryptoCaps::record({true}, kA), false, kB).ok());
  EXPECT_FALSE(caps.of(kA));
  // This host's own record is not stored.
  ASSERT_TRUE(caps.apply(CryptoCaps::record({true}, kB), true, kB).ok());
  EXPECT_FALSE(caps.of(kB));
  // Bits a newer host sets and this build does not know change nothing.
  auto newer = CryptoCaps::record({true}, kA);
  newer.mac = "02:00:00:00:00:ff";
  ASSERT_TRUE(caps.apply(newer, true, kB).ok());
  EXPECT_TRUE(caps.of(kA)->kernelEsp);
  EXPECT_EQ(caps.size(), 2u);
}

TEST(CryptoCaps, MalformedOrForgedRecordsAreRefusedAndChangeNothing) {
  CryptoCaps caps;
  ASSERT_TRUE(caps.apply(CryptoCaps::record({false}, kA), true, kB).ok());
  auto forged = CryptoCaps::record({true}, kA);
  forged.vtep = kC;  // the key names another owner
  EXPECT_EQ(caps.apply(forged, true, kB).code(), EINVAL);
  auto badMac = CryptoCaps::record({true}, kA);
  badMac.mac = "02:42:0a:00:00:01";
  EXPECT_EQ(caps.apply(badMac, true, kB).code(), EINVAL);
  badMac.mac = "02:00:00:00:00:zz";
  EXPECT_EQ(caps.apply(badMac, true, kB).code(), EINVAL);
  auto otherNet = CryptoCaps::record({true}, kA);
  otherNet.network = "crypto:other";
  EXPECT_EQ(caps.apply(otherNet, true, kB).code(), EINVAL);
  EXPECT_FALSE(caps.of(kA)->kernelEsp);
  EXPECT_FALSE(caps.of(kC));
}

TEST(CryptoCaps, HowManyHostsItKeepsIsBounded) {
  CryptoCaps caps;
  for (size_t i = 0; i < kMaxCryptoCapsHosts; ++i) {
    const std::string host = "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
                             std::to_string(i % 256);
    ASSERT_TRUE(caps.apply(CryptoCaps::record({true}, host), true, kB).ok()) << host;
  }
  EXPECT_EQ(caps.apply(CryptoCaps::record({true}, "10.200.0.1"), true, kB).code(), ENOSPC);
  // An update of a known host still goes through.
  EXPECT_TRUE(caps.apply(CryptoCaps::record({false}, "10.0.0.1"), true, kB).ok());
  EXPECT_FALSE(caps.of("10.0.0.1")->kernelEsp);
}

TEST(PairSelection, AutoIsKernelOnlyWhenBothHostsCan) {
  auto s = selectPairBackend(CryptoBackend::kAuto, kCapable, kB, HostCrypto{true});
  EXPECT_EQ(s.backend, PairBackend::kKernel);
  EXPECT_EQ(selectPairBackend(CryptoBackend::kAuto, kCapable, kB, HostCrypto{false}).backend,
            PairBackend::kUserspace);
  auto unknown = selectPairBackend(CryptoBackend::kAuto, kCapable, kB, std::nullopt);
  EXPECT_EQ(unknown.backend, PairBackend::kUserspace);
  EXPECT_NE(unknown.why.find("older weft"), std::string::npos) << unknown.why;
  auto selfNo = selectPairBackend(CryptoBackend::kAuto, kNoEsp, kB, HostCrypto{true});
  EXPECT_EQ(selfNo.backend, PairBackend::kUserspace);
  EXPECT_NE(selfNo.why.find("this host cannot run the kernel backend"), std::string::npos) << selfNo.why;
}

TEST(PairSelection, EveryCombinationIsSymmetricAndNeverCleartext) {
  for (CryptoBackend wanted : {CryptoBackend::kAuto, CryptoBackend::kKernel, CryptoBackend::kUserspace})
    for (bool aKernel : {false, true})
      for (bool bKernel : {false, true}) {
        // Both hosts have heard each other: each end computes the same.
        LocalCrypto a{aKernel ? "" : "no esp", ""}, b{bKernel ? "" : "no esp", ""};
        auto atA = selectPairBackend(wanted, a, kB, HostCrypto{bKernel});
        auto atB = selectPairBackend(wanted, b, kA, HostCrypto{aKernel});
        SCOPED_TRACE(std::string(cryptoBackendName(wanted)) + " a=" + std::to_string(aKernel) +
                     " b=" + std::to_string(bKernel));
        EXPECT_EQ(atA.backend, atB.backend);
        EXPECT_FALSE(atA.why.empty());
        const bool both = aKernel && bKernel;
        switch (wanted) {
          case CryptoBackend::kAuto:
            EXPECT_EQ(atA.backend, both ? PairBackend::kKernel : PairBackend::kUserspace);
            break;
          case CryptoBackend::kKernel:
            EXPECT_EQ(atA.backend, both ? PairBackend::kKernel : PairBackend::kRefused);
            break;
          case CryptoBackend::kUserspace:
            EXPECT_EQ(atA.backend, PairBackend::kUserspace);
            break;
        }
      }
}

TEST(PairSelection, ForcedKernelRefusesAPeerThatCannotAndSaysWhy) {
  auto s = selectPairBackend(CryptoBackend::kKernel, kCapable, kB, HostCrypto{false});
  EXPECT_EQ(s.backend, PairBackend::kRefused);
  EXPECT_NE(s.why.find("peer " + kB + " advertises no kernel ESP"), std::string::npos) << s.why;
  auto unknown = selectPairBackend(CryptoBackend::kKernel, kCapable, kB, std::nullopt);
  EXPECT_EQ(unknown.backend, PairBackend::kRefused);
  auto self = selectPairBackend(CryptoBackend::kKernel, kNoEsp, kB, HostCrypto{true});
  EXPECT_EQ(self.backend, PairBackend::kRefused);
  EXPECT_NE(self.why.find("this host cannot"), std::string::npos) << self.why;
}

TEST(PairSelection, WithoutTheUserspaceDatapathAPairThatNeedsItIsRefused) {
  LocalCrypto noUserspace{"no esp", "the userspace datapath is not running"};
  auto s = selectPairBackend(CryptoBackend::kAuto, noUserspace, kB, HostCrypto{true});
  EXPECT_EQ(s.backend, PairBackend::kRefused);
  EXPECT_NE(s.why.find("userspace datapath is off"), std::string::npos) << s.why;
  LocalCrypto kernelOnly{"", "off"};
  EXPECT_EQ(selectPairBackend(CryptoBackend::kAuto, kernelOnly, kB, HostCrypto{true}).backend,
            PairBackend::kKernel);
  EXPECT_EQ(selectPairBackend(CryptoBackend::kUserspace, kernelOnly, kB, HostCrypto{true}).backend,
            PairBackend::kRefused);
}

TEST(SplitEntries, EachPeerGoesToExactlyOneBackendAndRefusedPeersToNone) {
  PeerEntries all;
  all.flood = {kA, kB, kC};
  all.fdb = {{"02:00:00:00:0a:01", kA}, {"02:00:00:00:0b:01", kB}, {"02:00:00:00:0c:01", kC}};
  all.neigh = {{"10.0.0.1", "02:00:00:00:0a:01"},
               {"10.0.0.2", "02:00:00:00:0b:01"},
               {"10.0.0.3", "02:00:00:00:0c:01"}};
  auto s = splitEntries(
      all, {{kA, PairBackend::kKernel}, {kB, PairBackend::kUserspace}, {kC, PairBackend::kRefused}});
  EXPECT_EQ(s.kernel.flood, std::set<std::string>{kA});
  EXPECT_EQ(s.userspace.flood, std::set<std::string>{kB});
  EXPECT_EQ(s.kernel.fdb, (std::map<std::string, std::string>{{"02:00:00:00:0a:01", kA}}));
  EXPECT_EQ(s.userspace.fdb, (std::map<std::string, std::string>{{"02:00:00:00:0b:01", kB}}));
  EXPECT_EQ(s.kernel.neigh, (std::map<std::string, std::string>{{"10.0.0.1", "02:00:00:00:0a:01"}}));
  EXPECT_EQ(s.userspace.neigh, (std::map<std::string, std::string>{{"10.0.0.2", "02:00:00:00:0b:01"}}));
  // A VTEP with no selection at all (not decided yet) goes nowhere.
  auto none = splitEntries(all, {});
  EXPECT_TRUE(none.kernel.flood.empty() && none.userspace.flood.empty());
  EXPECT_TRUE(none.kernel.fdb.empty() && none.userspace.fdb.empty());
}
