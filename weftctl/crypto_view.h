#pragma once
// weftctl crypto: weft-plugin's /weft.Crypto and /weft.CryptoRotate answers
// as text. Pure functions of the answers, so the tables are unit-tested
// without a plugin.

#include <nlohmann/json.hpp>
#include <ostream>

namespace weft::weftctl {

// `weftctl crypto`: the userspace datapath (or why it is off) with its
// per-peer traffic, the kernel ESP backend's pairs, and which backend
// carries each encrypted network to each peer host and why.
void printCrypto(const nlohmann::json& crypto, std::ostream& out);
// `weftctl crypto rotate`: what moved to its next key epoch, or when it will.
void printCryptoRotated(const nlohmann::json& rotated, std::ostream& out);

}  // namespace weft::weftctl
