#pragma once
// What this host wants the sidecar to publish, of one kind (leases, names):
// the desired values, what the current sidecar was told, and the keys that
// changed since. Writers only record the wish; the supervisor's sender turns
// the dirty keys into messages in batches, coalescing repeated changes of a
// key into one message and skipping a change back to what was told. A new
// sidecar was told nothing: forgetTold(), then markAllDirty() after its
// ready. Not thread-safe: the supervisor holds its mutex.

#include <map>
#include <set>
#include <utility>
#include <vector>

namespace weft::cluster {

template <class Key, class Value>
class DesiredSet {
 public:
  void set(const Key& k, Value v) {
    want_[k] = std::move(v);
    dirty_.insert(k);
  }
  // True when a withdrawal must go out (the sidecar was told of the key).
  bool erase(const Key& k) {
    want_.erase(k);
    if (told_.count(k)) {
      dirty_.insert(k);
      return true;
    }
    dirty_.erase(k);
    return false;
  }
  bool dirty() const { return !dirty_.empty(); }
  void forgetTold() {
    told_.clear();
    dirty_.clear();
  }
  void markAllDirty() {
    for (const auto& [k, v] : want_) dirty_.insert(k);
  }
  // Up to `room` messages in `batch`: make(value, withdraw) for each dirty
  // key whose desired value differs from what was told.
  template <class Msg, class Make>
  void take(std::vector<Msg>* batch, size_t room, Make make) {
    while (!dirty_.empty() && batch->size() < room) {
      Key k = *dirty_.begin();
      dirty_.erase(dirty_.begin());
      auto want = want_.find(k);
      auto told = told_.find(k);
      if (want != want_.end()) {
        if (told != told_.end() && told->second == want->second) continue;
        told_[k] = want->second;
        batch->push_back(make(want->second, false));
      } else if (told != told_.end()) {
        Value gone = std::move(told->second);
        told_.erase(told);
        batch->push_back(make(gone, true));
      }
    }
  }

 private:
  std::map<Key, Value> want_;
  std::map<Key, Value> told_;
  std::set<Key> dirty_;
};

}  // namespace weft::cluster
