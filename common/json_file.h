#pragma once
// Atomic file writes (temp file, fsync, rename, fsync of the directory) and
// strict reads.

#include <string>

#include "common/result.h"

namespace weft {

// Writes `content` to `path` so that a reader sees either the old file or the
// new one, never a mix, also after a crash or power loss.
Status writeFileAtomic(const std::string& path, const std::string& content, int mode = 0600);

// Reads the whole file. ENOENT is returned as such so callers can tell
// "absent" from "unreadable".
Result<std::string> readFile(const std::string& path);

// mkdir -p with mode for the created directories.
Status makeDirs(const std::string& path, int mode = 0700);

}  // namespace weft
