// libFuzzer target: the IPC decoders, the privileged plugin's boundary with
// the sidecar it does not trust. Any crash or sanitizer report is a finding,
// and so is a decoded message that does not survive its own encoder and
// decoder unchanged.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cluster/ipc_messages.h"

using namespace weft::cluster::ipc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto m = decodeFromSidecar(text); m.ok()) {
    auto again = decodeFromSidecar(encode(*m));
    if (!again.ok() || !(*again == *m)) std::abort();
  }
  if (auto m = decodeToSidecar(text); m.ok()) {
    auto again = decodeToSidecar(encode(*m));
    if (!again.ok() || !(*again == *m)) std::abort();
  }
  return 0;
}
