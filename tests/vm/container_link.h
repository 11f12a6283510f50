#pragma once
// What Docker does with Join's answer (tests/vm/plugin_vm_test.cc): the
// interface the driver named (SrcName, in the host namespace) goes into the
// container's namespace, renamed (DstPrefix + index) and given the MAC
// address CreateEndpoint chose, in one RTM_NEWLINK; the test then sets its
// address and brings it up.

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "common/mac.h"
#include "common/result.h"
#include "kernel/fd.h"
#include "kernel/netns_util.h"

namespace weft::vmtest {

inline Status moveIntoContainer(const std::string& hostNsPath, const std::string& srcName,
                                const std::string& containerNsPath, const std::string& newName,
                                const std::string& mac) {
  auto host = kernel::openNetnsFile(hostNsPath);
  if (!host) return host.error();
  auto target = kernel::openNetnsFile(containerNsPath);
  if (!target) return target.error();
  auto macAddr = MacAddr::parse(mac);
  if (!macAddr) return Error{EINVAL, "CreateEndpoint's MacAddress \"" + mac + "\" is not a MAC address"};
  return kernel::runInNetns(host->get(), [&]() -> Status {
    const unsigned index = ::if_nametoindex(srcName.c_str());
    if (index == 0) return Error::fromErrno(errno, "Join's SrcName " + srcName + " in the host namespace");
    kernel::Fd nl(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!nl) return Error::fromErrno(errno, "netlink socket");
    struct {
      nlmsghdr h;
      ifinfomsg i;
      char attrs[128];
    } req{};
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
    req.h.nlmsg_type = RTM_NEWLINK;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.h.nlmsg_seq = 1;
    req.i.ifi_family = AF_UNSPEC;
    req.i.ifi_index = static_cast<int>(index);
    auto put = [&req](uint16_t type, const void* data, size_t len) {
      auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&req) + NLMSG_ALIGN(req.h.nlmsg_len));
      a->rta_type = type;
      a->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
      std::memcpy(RTA_DATA(a), data, len);
      req.h.nlmsg_len = NLMSG_ALIGN(req.h.nlmsg_len) + RTA_ALIGN(a->rta_len);
    };
    const uint32_t nsFd = static_cast<uint32_t>(target->get());
    put(IFLA_NET_NS_FD, &nsFd, sizeof nsFd);
    put(IFLA_IFNAME, newName.c_str(), newName.size() + 1);
    put(IFLA_ADDRESS, macAddr->bytes.data(), 6);
    if (::send(nl.get(), &req, req.h.nlmsg_len, 0) != static_cast<ssize_t>(req.h.nlmsg_len))
      return Error::fromErrno(errno, "netlink send");
    char buf[1024];
    const ssize_t n = ::recv(nl.get(), buf, sizeof buf, 0);
    if (n < static_cast<ssize_t>(NLMSG_LENGTH(sizeof(nlmsgerr)))) return Error{EIO, "no netlink ack"};
    const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(reinterpret_cast<nlmsghdr*>(buf)));
    if (err->error != 0)
      return Error::fromErrno(-err->error,
                              "moving " + srcName + " into " + containerNsPath + " as " + newName);
    return Status::Ok();
  });
}

}  // namespace weft::vmtest
