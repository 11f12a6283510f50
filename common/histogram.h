#pragma once
// A fixed-bucket histogram as a plain value: what a component observes (a
// probe's round trip, a record's convergence) and a metrics scrape copies,
// without the component depending on the metrics library. Not thread-safe:
// its owner holds it under its own lock.

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace weft {

struct Histogram {
  std::vector<double> bounds;  // upper bounds, ascending; +Inf is implied
  std::vector<uint64_t>
      counts;  // per bucket (not cumulative), bounds.size() + 1 (the last: above every bound)
  double sum = 0;
  uint64_t count = 0;

  Histogram() = default;
  explicit Histogram(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}

  void observe(double v) {
    size_t i = 0;
    while (i < bounds.size() && v > bounds[i]) ++i;
    ++counts[i];
    sum += v;
    ++count;
  }
};

// Buckets for things that take from tens of microseconds to seconds (a
// kernel round trip, a probe over a LAN, a record programmed): 100 us to 10 s.
inline const std::vector<double>& latencyBuckets() {
  static const std::vector<double> b = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  return b;
}

}  // namespace weft
