#pragma once
// Private helpers of FakeKernel's implementation files.

#include <string>

#include "common/result.h"
#include "kernel/types.h"

namespace weft::kernel::fake {

inline Error notFound(const std::string& op, const std::string& what) {
  return Error{ENOENT, op + ": " + what + " does not exist"};
}
inline Error exists(const std::string& op, const std::string& what) {
  return Error{EEXIST, op + ": " + what + " already exists"};
}
inline std::string nsName(const Netns& ns) {
  return ns.empty() ? "host namespace" : "namespace '" + ns + "'";
}

}  // namespace weft::kernel::fake

// Takes the lock and consumes an injected fault for `op`, if any.
#define FAKE_ENTER(op)                    \
  std::lock_guard<std::mutex> lock_(mu_); \
  if (auto fault_ = takeFault(op)) return *fault_
// FAKE_ENTER for an operation that may change namespace `ns`: its watchers
// are woken (also when the operation then fails and changes nothing -- a
// watcher only learns that it should look again).
#define FAKE_CHANGE(op, ns) \
  FAKE_ENTER(op);           \
  notifyLocked(ns)
