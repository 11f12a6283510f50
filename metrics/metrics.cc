#include "metrics/metrics.h"

#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>

#include <sstream>

#include "metrics/families.h"

namespace weft::metrics {

const std::vector<double>& Metrics::durationBuckets() {
  // Protocol calls run from tens of microseconds (lookups) to seconds (a
  // network's first sandbox, a slow kernel): 100 us to 10 s.
  static const std::vector<double> b = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  return b;
}

Metrics::Metrics(Options options)
    : options_(std::move(options)), registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::BuildGauge()
      .Name("weft_build_info")
      .Help("weft's version; the value is always 1")
      .Register(*registry_)
      .Add({{"version", options_.version}})
      .Set(1);
  requests_ = &prometheus::BuildCounter()
                   .Name("weft_requests_total")
                   .Help(
                       "Protocol calls (Docker's NetworkDriver/IpamDriver and weftctl's) answered, by call "
                       "and result")
                   .Register(*registry_);
  durations_ = &prometheus::BuildHistogram()
                    .Name("weft_request_duration_seconds")
                    .Help("Time from a protocol call's request to its answer, by call")
                    .Register(*registry_);
  for (const auto& c : options_.calls) calls_.emplace(c, addCall(c));
  other_ = addCall("other");
}

Metrics::CallSeries Metrics::addCall(const std::string& call) {
  CallSeries s;
  s.ok = &requests_->Add({{"call", call}, {"result", "ok"}});
  s.error = &requests_->Add({{"call", call}, {"result", "error"}});
  s.duration = &durations_->Add({{"call", call}}, durationBuckets());
  return s;
}

void Metrics::observeRequest(const std::string& call, bool ok, double seconds) {
  auto it = calls_.find(call);
  const CallSeries& s = it == calls_.end() ? other_ : it->second;
  (ok ? s.ok : s.error)->Increment();
  s.duration->Observe(seconds);
}

void Metrics::setSource(Source source) {
  std::lock_guard<std::mutex> lk(sourceMu_);
  source_ = std::move(source);
}

std::vector<prometheus::MetricFamily> Metrics::Collect() const {
  auto out = registry_->Collect();
  std::lock_guard<std::mutex> lk(sourceMu_);
  if (source_) {
    auto more = snapshotFamilies(source_(), options_.peerLabels);
    out.insert(out.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  return out;
}

std::string Metrics::text() const {
  std::ostringstream o;
  prometheus::TextSerializer().Serialize(o, Collect());
  return o.str();
}

}  // namespace weft::metrics
