#pragma once
// Finding an SA among those an in-memory kernel lists, for the kernel ESP
// backend's unit tests (tests/unit/esp_pairs_test.cc,
// tests/unit/kernel_plane_epochs_test.cc).

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "kernel/types.h"

namespace weft::driver::testing {

// The SA from `src` with `spi` in `all`, or null.
inline const kernel::XfrmState* findSa(const std::vector<kernel::XfrmState>& all, const std::string& src,
                                       uint32_t spi) {
  auto it = std::find_if(all.begin(), all.end(),
                         [&](const kernel::XfrmState& s) { return s.src == src && s.spi == spi; });
  return it == all.end() ? nullptr : &*it;
}

}  // namespace weft::driver::testing
