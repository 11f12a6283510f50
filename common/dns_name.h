#pragma once
// Container names as DNS names (issue 12, names across hosts). Docker allows
// container names and network aliases of [a-zA-Z0-9][a-zA-Z0-9_.-]*; weft
// shares and answers for those that are also usable DNS names: at most 253
// bytes, labels of 1 to 63 bytes of letters, digits, '-' and '_', separated
// by single dots. Names compare without regard to case (RFC 4343), so weft
// keeps them in lower case.

#include <string>
#include <string_view>

namespace weft {

inline constexpr size_t kMaxDnsName = 253;
inline constexpr size_t kMaxDnsLabel = 63;

bool validDnsName(std::string_view s);
// ASCII lower case (names are ASCII once valid).
std::string lowerName(std::string_view s);

}  // namespace weft
