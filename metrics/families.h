#pragma once
// Snapshot -> Prometheus families: a pure function, tested apart from any
// server. Names follow Prometheus' conventions: weft_ prefix, base units
// (seconds, bytes), _total on counters.

#include <prometheus/metric_family.h>

#include <utility>
#include <vector>

#include "metrics/snapshot.h"

namespace weft::metrics {

std::vector<prometheus::MetricFamily> snapshotFamilies(const Snapshot& s, bool peerLabels);

// The (table, action) pairs of weft_reconcile_corrections_total that the
// driver's reconcile can report (driver/sandbox.h Correction), always shown.
const std::vector<std::pair<const char*, std::vector<const char*>>>& reconcileCorrectionKinds();

// The sidecar's message types, as its counters name them (msgSent.<type>,
// msgReceived.<type>): the values label `type` takes.
const std::vector<const char*>& gossipMessageTypes();

// The values label `state` of weft_dataplane_peers takes (driver/prober.h's
// states, in Prometheus' spelling).
const std::vector<const char*>& dataPlaneStates();

}  // namespace weft::metrics
