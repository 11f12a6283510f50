#pragma once
// How deeply a JSON text nests arrays and objects, read from the text itself
// (string contents skipped) before anything is parsed: a recursive parser or
// copy given 100,000 levels overflows its stack. Untrusted JSON is checked
// with this first (Docker's requests, the sidecar's messages).

#include <cstddef>
#include <limits>
#include <string_view>

namespace weft {

// The deepest nesting in `text`; counting stops once it passes `limit`
// (then limit + 1 is returned), so a hostile text costs no more than needed.
size_t jsonDepth(std::string_view text, size_t limit = std::numeric_limits<size_t>::max() - 1);

}  // namespace weft
