#pragma once
// Test doubles for the kernel ESP backend's unit tests: a FakeKernel that
// logs every change to xfrm and to forwarding entries (in order, with a
// sequence shared between kernels, so the order across two hosts can be
// checked), and an EspEpochSource fed directly by the test.

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "driver/esp_epoch_source.h"
#include "driver/peer_table.h"
#include "kernel/fake_kernel.h"

namespace weft::driver::testing {

struct KernelCall {
  long seq;
  std::string op;  // e.g. "addXfrmState"
  uint32_t spi = 0;
  std::string src, dst;
};

class RecordingKernel : public kernel::FakeKernel {
 public:
  RecordingKernel(std::string netnsDir, std::atomic<long>& seq)
      : FakeKernel(std::move(netnsDir)), seq_(seq) {}

  std::vector<KernelCall> calls;
  // The changes (xfrm and entries) since the last clear().
  size_t changes() const { return calls.size(); }
  void clear() { calls.clear(); }
  long at(const std::string& op, uint32_t spi) const {
    for (const auto& c : calls)
      if (c.op == op && c.spi == spi) return c.seq;
    return -1;
  }

  Status addXfrmState(const kernel::XfrmState& s) override {
    return log("addXfrmState", s.spi, s.src, s.dst, FakeKernel::addXfrmState(s));
  }
  Status delXfrmState(const kernel::XfrmState& s) override {
    return log("delXfrmState", s.spi, s.src, s.dst, FakeKernel::delXfrmState(s));
  }
  Status addXfrmPolicy(const kernel::XfrmPolicy& p) override {
    return log("addXfrmPolicy", p.spi, p.src, p.dst, FakeKernel::addXfrmPolicy(p));
  }
  Status updateXfrmPolicy(const kernel::XfrmPolicy& p) override {
    return log("updateXfrmPolicy", p.spi, p.src, p.dst, FakeKernel::updateXfrmPolicy(p));
  }
  Status delXfrmPolicy(const kernel::XfrmPolicy& p) override {
    return log("delXfrmPolicy", p.spi, p.src, p.dst, FakeKernel::delXfrmPolicy(p));
  }
  Status addFdb(const kernel::Netns& ns, const kernel::FdbEntry& e, kernel::FdbAdd how) override {
    return log("addFdb", 0, e.mac.str(), "", FakeKernel::addFdb(ns, e, how));
  }
  Status replaceFdb(const kernel::Netns& ns, const kernel::FdbEntry& e) override {
    return log("replaceFdb", 0, e.mac.str(), "", FakeKernel::replaceFdb(ns, e));
  }
  Status delFdb(const kernel::Netns& ns, const kernel::FdbEntry& e) override {
    return log("delFdb", 0, e.mac.str(), "", FakeKernel::delFdb(ns, e));
  }
  Status replaceNeigh(const kernel::Netns& ns, const kernel::NeighEntry& e) override {
    return log("replaceNeigh", 0, e.ip.str(), "", FakeKernel::replaceNeigh(ns, e));
  }
  Status addNeigh(const kernel::Netns& ns, const kernel::NeighEntry& e) override {
    return log("addNeigh", 0, e.ip.str(), "", FakeKernel::addNeigh(ns, e));
  }
  Status delNeigh(const kernel::Netns& ns, const kernel::NeighEntry& e) override {
    return log("delNeigh", 0, e.ip.str(), "", FakeKernel::delNeigh(ns, e));
  }

 private:
  Status log(const char* op, uint32_t spi, const std::string& src, const std::string& dst, Status st) {
    if (st) calls.push_back({seq_++, op, spi, src, dst});
    return st;
  }
  std::atomic<long>& seq_;
};

// Epochs as the test sets them. willCreateOut keeps the "durable" record of
// every (peer, epoch) created and refuses one twice, as the real one does.
class FakeEspEpochs : public EspEpochSource {
 public:
  std::map<std::string, uint32_t> out;
  std::map<std::string, std::set<uint32_t>> in;
  std::vector<std::pair<std::string, uint32_t>> willCalls;
  std::set<std::pair<std::string, uint32_t>> created;
  int failWill = 0;  // the next n willCreateOut fail (as a failed fsync)

  // Both directions at epoch e, inbound only e.
  void agree(const std::string& peer, uint32_t e) {
    out[peer] = e;
    in[peer] = {e};
  }
  std::optional<uint32_t> outEpoch(const std::string& peer) override {
    auto it = out.find(peer);
    return it == out.end() ? std::nullopt : std::optional<uint32_t>(it->second);
  }
  Status willCreateOut(const std::string& peer, uint32_t epoch) override {
    willCalls.emplace_back(peer, epoch);
    if (failWill > 0) {
      --failWill;
      return Error{EIO, "recording the epoch failed"};
    }
    if (!created.emplace(peer, epoch).second)
      return Error{EEXIST, "epoch " + std::to_string(epoch) + " was used with " + peer};
    return Status::Ok();
  }
  std::set<uint32_t> inEpochs(const std::string& peer) override {
    auto it = in.find(peer);
    return it == in.end() ? std::set<uint32_t>{} : it->second;
  }
};

// One remote endpoint per VTEP (MAC 02:42:0a:01:00:1n, IP 10.1.0.1n): its
// neighbour, FDB and flood entries.
inline PeerEntries entriesFor(const std::vector<std::string>& vteps) {
  PeerEntries e;
  int n = 0;
  for (const auto& v : vteps) {
    const std::string last = std::to_string(10 + n++);
    const std::string mac = "02:42:0a:01:00:" + last;
    e.fdb[mac] = v;
    e.neigh["10.1.0." + last] = mac;
    e.flood.insert(v);
  }
  return e;
}

}  // namespace weft::driver::testing
