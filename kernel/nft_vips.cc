// NetlinkKernel: service VIP tables through libnftables, Debian's own
// nftables library (the nft command's parser and netlink code). The script
// is built from parsed addresses only (kernel/service_vips.cc), and runs from
// a short-lived thread that entered the container's namespace.
#include <nftables/libnftables.h>

#include <memory>

#include "kernel/netlink_kernel.h"
#include "kernel/netns_util.h"

namespace weft::kernel {

namespace {

struct NftCtxFree {
  void operator()(nft_ctx* c) const { nft_ctx_free(c); }
};

}  // namespace

Status NetlinkKernel::setServiceVips(const std::string& netnsPath, const std::string& tag,
                                     const std::vector<ServiceVip>& vips) {
  auto script = renderVipScript(tag, vips);
  if (!script) return script.error();
  auto fd = openNetnsFile(netnsPath);
  if (!fd) return Error{fd.error().code, "setServiceVips: " + fd.error().message};
  return runInNetns(fd->get(), [&]() -> Status {
    std::unique_ptr<nft_ctx, NftCtxFree> ctx(nft_ctx_new(NFT_CTX_DEFAULT));
    if (!ctx) return Error{ENOMEM, "setServiceVips: nft_ctx_new failed"};
    nft_ctx_buffer_output(ctx.get());
    nft_ctx_buffer_error(ctx.get());
    if (nft_run_cmd_from_buffer(ctx.get(), script->c_str()) != 0) {
      std::string err = nft_ctx_get_error_buffer(ctx.get());
      while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
      // nf_tables or its nat/numgen parts missing from the kernel: say so.
      return Error{EOPNOTSUPP,
                   "setServiceVips weft-svc-" + tag + " in " + netnsPath + ": nftables refused: " + err};
    }
    return Status::Ok();
  });
}

}  // namespace weft::kernel
