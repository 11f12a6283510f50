#pragma once
// Private to kernel/: network namespace files and short-lived threads that
// enter a namespace. setns() is per thread; only these dedicated threads ever
// switch namespace, never a shared or the main thread.

#include <functional>
#include <string>
#include <utility>

#include "common/result.h"
#include "kernel/fd.h"

namespace weft::kernel {

// True when fd refers to a network namespace (nsfs, NS_GET_NSTYPE).
bool isNetnsFd(int fd);
// Opens a namespace file; ENOENT unless it is a live network namespace.
Result<Fd> openNetnsFile(const std::string& path);
// Runs fn in a new thread that first entered the namespace of nsFd.
Status runInNetns(int nsFd, const std::function<Status()>& fn);
// Creates a new network namespace and bind-mounts it onto `path` (an
// existing empty file), from a dedicated thread.
Status mountNewNetns(const std::string& path);
// Bind-mounts the namespace file `from` onto `to` (created if missing; a
// plain file left by a reboot is reused). On failure `to` is removed again.
Status bindNetnsFile(const std::string& from, const std::string& to);
// Unmounts (lazily) and removes a namespace file; a missing file or one with
// nothing mounted is fine.
Status removeNetnsFile(const std::string& path);
// Whether the mount holding `path` propagates to peer mount namespaces
// ("shared:N" in /proc/self/mountinfo). ENOENT when no mount holds it.
Result<bool> onSharedMount(const std::string& path);
// Runs fn in a new thread inside a fresh anonymous namespace that dies with
// the thread (used by probe()).
Status runInThrowawayNetns(const std::function<Status()>& fn);

}  // namespace weft::kernel
