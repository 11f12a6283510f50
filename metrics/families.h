#pragma once
// Snapshot -> Prometheus families: a pure function, tested apart from any
// server. Names follow Prometheus' conventions: weft_ prefix, base units
// (seconds, bytes), _total on counters.

#include <prometheus/metric_family.h>

#include <vector>

#include "metrics/snapshot.h"

namespace weft::metrics {

std::vector<prometheus::MetricFamily> snapshotFamilies(const Snapshot& s, bool peerLabels);

// The sidecar's message types, as its counters name them (msgSent.<type>,
// msgReceived.<type>): the values label `type` takes.
const std::vector<const char*>& gossipMessageTypes();

}  // namespace weft::metrics
