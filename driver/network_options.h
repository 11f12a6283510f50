#pragma once
// The `-o key=value` options of `docker network create -d weft`, validated.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/result.h"

namespace weft::driver {

inline constexpr uint32_t kMaxWeftVni = 4095;  // VNIs >= 4096 are Docker's overlay's
inline constexpr uint32_t kMinMtu = 576;
inline constexpr uint32_t kMaxMtu = 65535;

// -o weft.crypto=: which backend encrypts an encrypted network's traffic.
// kAuto picks per host (today: userspace, see README "Encrypted networks").
enum class CryptoBackend { kAuto, kKernel, kUserspace };
const char* cryptoBackendName(CryptoBackend b);

struct NetworkOptions {
  std::optional<uint32_t> mtu;  // -o mtu=N (or com.docker.network.driver.mtu)
  bool encrypted = false;       // -o encrypted[=true|false]
  // -o weft.crypto=auto|kernel|userspace; only with -o encrypted. Unset: auto.
  std::optional<CryptoBackend> crypto;
  std::optional<uint32_t> vni;  // -o vni=N, 1..4095
  std::string name;             // -o weft.name=NAME: cluster-wide identity
  // -o weft.gwbridge=false: Join asks Docker not to attach containers to
  // docker_gwbridge (no outside access through it, no eth1). Unset when not
  // given (then true, as with Docker's overlay), so that an explicit true can
  // be refused next to --internal.
  std::optional<bool> gwbridge;

  // Whether containers on the network get docker_gwbridge (the default).
  bool wantsGwbridge() const { return gwbridge.value_or(true); }
  CryptoBackend cryptoBackend() const { return crypto.value_or(CryptoBackend::kAuto); }

  // The options exactly as the user gave them (echoed by AllocateNetwork).
  std::map<std::string, std::string> raw;
};

// Validates the generic option map. Unknown or malformed options are refused
// with a message that names the option and says what is accepted.
Result<NetworkOptions> parseNetworkOptions(const std::map<std::string, std::string>& generic);

// The option keys weft accepts, for messages and docs.
const char* acceptedOptionKeys();

}  // namespace weft::driver
