#include "driver/network_options.h"

#include <cerrno>

namespace weft::driver {

namespace {

std::optional<uint64_t> parseUint(const std::string& s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

bool validName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// -o key (no value) and -o key=true|1|yes mean true; false|0|no mean false.
std::optional<bool> parseBool(const std::string& v) {
  if (v.empty() || v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  return std::nullopt;
}

}  // namespace

const char* acceptedOptionKeys() { return "mtu, encrypted, vni, weft.name, weft.gwbridge, weft.crypto"; }

const char* cryptoBackendName(CryptoBackend b) {
  switch (b) {
    case CryptoBackend::kAuto:
      return "auto";
    case CryptoBackend::kKernel:
      return "kernel";
    case CryptoBackend::kUserspace:
      return "userspace";
  }
  return "?";
}

Result<NetworkOptions> parseNetworkOptions(const std::map<std::string, std::string>& generic) {
  NetworkOptions o;
  o.raw = generic;
  for (const auto& [k, v] : generic) {
    if (k == "mtu" || k == "com.docker.network.driver.mtu") {
      auto n = parseUint(v);
      if (!n || *n < kMinMtu || *n > kMaxMtu)
        return Error{EINVAL, "option " + k + "=\"" + v + "\": mtu must be a number from " +
                                 std::to_string(kMinMtu) + " to " + std::to_string(kMaxMtu)};
      if (o.mtu && *o.mtu != *n)
        return Error{EINVAL, "options mtu and com.docker.network.driver.mtu disagree"};
      o.mtu = static_cast<uint32_t>(*n);
    } else if (k == "encrypted") {
      auto b = parseBool(v);
      if (!b) return Error{EINVAL, "option encrypted=\"" + v + "\": use -o encrypted or -o encrypted=false"};
      o.encrypted = *b;
    } else if (k == "vni") {
      auto n = parseUint(v);
      if (!n || *n < 1 || *n > kMaxWeftVni)
        return Error{EINVAL, "option vni=\"" + v + "\": vni must be a number from 1 to " +
                                 std::to_string(kMaxWeftVni) +
                                 " (VNIs from 4096 up belong to Docker's built-in overlay)"};
      o.vni = static_cast<uint32_t>(*n);
    } else if (k == "weft.name") {
      if (!validName(v))
        return Error{EINVAL,
                     "option weft.name=\"" + v + "\": use 1-64 characters from a-z, A-Z, 0-9, '-', '_', '.'"};
      o.name = v;
    } else if (k == "weft.gwbridge") {
      auto b = parseBool(v);
      if (!b)
        return Error{EINVAL, "option weft.gwbridge=\"" + v +
                                 "\": use -o weft.gwbridge=false (containers get no docker_gwbridge, "
                                 "so no outside access through it) or =true (the default)"};
      o.gwbridge = *b;
    } else if (k == "weft.crypto") {
      if (v == "auto")
        o.crypto = CryptoBackend::kAuto;
      else if (v == "kernel")
        o.crypto = CryptoBackend::kKernel;
      else if (v == "userspace")
        o.crypto = CryptoBackend::kUserspace;
      else
        return Error{EINVAL, "option weft.crypto=\"" + v +
                                 "\": use auto (the default), kernel (IPsec ESP in the kernel) or userspace "
                                 "(weft's own datapath)"};
    } else {
      return Error{EINVAL, "unknown option \"" + k + "\" (weft accepts " + acceptedOptionKeys() + ")"};
    }
  }
  // Checked after the loop: the map's order must not matter.
  if (o.crypto && !o.encrypted)
    return Error{EINVAL, "option weft.crypto=" + generic.at("weft.crypto") +
                             " needs -o encrypted: it chooses how an encrypted network is encrypted"};
  return o;
}

}  // namespace weft::driver
