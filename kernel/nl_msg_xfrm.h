#pragma once
// Private to kernel/: xfrm (NETLINK_XFRM) messages for what weft uses: ESP
// states in transport mode with rfc4106(gcm(aes)), and policies that select
// UDP traffic between two hosts (optionally to one port) and require ESP.
// SPIs and ports are network order on the wire, reqids host order.

#include <optional>

#include "kernel/nl_message.h"
#include "kernel/types.h"
#include "kernel/validate.h"

namespace weft::kernel::nl {

// s as checked by parseXfrmState (kernel/validate.h), which gave p.
Message xfrmStateAdd(const XfrmState& s, const ParsedXfrmState& p);
Message xfrmStateDelete(const ParsedXfrmState& p, uint32_t spi);
Message xfrmStateDump();
// ESP transport states with rfc4106(gcm(aes)), with the kernel's counters
// (curlft, stats); nullopt for anything else.
std::optional<XfrmState> parseXfrmState(const nlmsghdr* nlh);

Message xfrmPolicyAdd(const XfrmPolicy& p, const ParsedXfrmPolicy& parsed);
// Replaces the policy with the same direction and selector, or adds it.
Message xfrmPolicyUpdate(const XfrmPolicy& p, const ParsedXfrmPolicy& parsed);
Message xfrmPolicyDelete(const XfrmPolicy& p, const ParsedXfrmPolicy& parsed);
Message xfrmPolicyDump();
// Policies with a UDP selector and an ESP transport template; nullopt else.
std::optional<XfrmPolicy> parseXfrmPolicy(const nlmsghdr* nlh);

}  // namespace weft::kernel::nl
