#pragma once
// weft-plugin's Prometheus metrics: one registry that owns every family.
//
// Two kinds of family:
// * instrumented: counted where things happen (protocol calls: count and
//   duration by call and result), held in prometheus-cpp's Registry;
// * snapshot: read from the driver and the gossip sidecar at scrape time
//   through a Source (networks, endpoints, IPAM pools, gossip members and
//   counters, kernel programming totals, sidecar restarts), built fresh for
//   each scrape (metrics/families.h), so a pool or peer that went away leaves
//   no stale series behind.
//
// Collect() is what prometheus-cpp's Exposer calls (metrics/server.h);
// text() is the same in the exposition format, for tests and tools.
// Components that count take a Metrics* that is null when metrics are off.

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "metrics/snapshot.h"

namespace weft::metrics {

struct Options {
  std::string version;             // weft_build_info{version=...}
  std::vector<std::string> calls;  // every protocol call ("NetworkDriver.Join"): series exist from the start
  bool peerLabels = false;         // per-peer series (one label value per gossip member)
};

class Metrics : public prometheus::Collectable {
 public:
  explicit Metrics(Options options);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One protocol call answered. A call not in Options::calls is counted
  // under call="other": label values stay bounded whatever a client sends.
  // Thread-safe.
  void observeRequest(const std::string& call, bool ok, double seconds);

  // Where snapshot families come from; an empty function (the default, and
  // what a component going away sets) means none. Thread-safe; a scrape in
  // progress finishes with the source it started with before this returns.
  using Source = std::function<Snapshot()>;
  void setSource(Source source);

  std::vector<prometheus::MetricFamily> Collect() const override;
  std::string text() const;

  // The histogram buckets of request durations, in seconds.
  static const std::vector<double>& durationBuckets();

 private:
  struct CallSeries {
    prometheus::Counter* ok = nullptr;
    prometheus::Counter* error = nullptr;
    prometheus::Histogram* duration = nullptr;
  };
  CallSeries addCall(const std::string& call);

  const Options options_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  prometheus::Family<prometheus::Histogram>* durations_ = nullptr;
  std::map<std::string, CallSeries> calls_;  // fixed after construction: read without a lock
  CallSeries other_;
  mutable std::mutex sourceMu_;  // held during a scrape's snapshot
  Source source_;
};

}  // namespace weft::metrics
