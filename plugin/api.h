#pragma once
// Docker's remote NetworkDriver and IpamDriver protocols, as a pure function
// from (path, body) to (status, JSON body). The HTTP server, the unit tests
// and the fuzzer all go through handle(); nothing here throws.

#include <cstddef>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "driver/driver.h"
#include "driver/prober.h"
#include "plugin/decode.h"

namespace weft::metrics {
class Metrics;
}
#include "services/name_service.h"
#include "services/vip_manager.h"

namespace weft::plugin {

inline constexpr size_t kMaxBodyBytes = 1 << 20;  // 1 MiB
inline constexpr const char* kContentType = "application/vnd.docker.plugins.v1+json";

struct ApiReply {
  int status = 200;
  std::string body;
  bool ok = true;  // false: the body is an error ({"Err": ...} or {"Error": ...})
};

class Api {
 public:
  explicit Api(driver::Driver& driver);
  ApiReply handle(const std::string& path, const std::string& body);
  // Body for a non-200 reply the HTTP layer makes itself (404, 413, ...).
  static std::string errorBody(const std::string& path, const std::string& message);
  // Where /weft.Peers gets the control plane's view (unset: single host).
  void setClusterStatus(std::function<Result<std::string>()> fn) { clusterStatus_ = std::move(fn); }
  // Problems of this host found at start that do not stop weft (shown by
  // /weft.Status under "problems", with the driver's faulted networks).
  void setHostWarnings(std::vector<std::string> w) { hostWarnings_ = std::move(w); }
  // Counts every call and its duration there (null: metrics off). Set
  // before serving.
  void setMetrics(metrics::Metrics* m) { metrics_ = m; }
  // The calls handle() answers, without the leading "/" ("NetworkDriver.Join").
  std::vector<std::string> calls() const;
  // The data-plane prober (unset: probes off): its problems go in
  // /weft.Status, its per-peer state in /weft.Peers under "dataPlane".
  void setProber(const driver::Prober* p, std::string off = "") {
    prober_ = p;
    proberOff_ = std::move(off);
  }
  // /weft.Crypto: the encrypted networks' datapath, as JSON (unset: off,
  // and `off` says why).
  void setCryptoStatus(std::function<std::string()> fn, std::string off = "") {
    cryptoStatus_ = std::move(fn);
    cryptoOff_ = std::move(off);
  }
  // /weft.CryptoRotate: every encrypted sender session to its next key
  // epoch (unset: encrypted networks are off).
  void setCryptoRotate(std::function<std::string()> fn) { cryptoRotate_ = std::move(fn); }
  // /weft.Multicast: per network, which hosts receive each multicast group,
  // as JSON (unset: off, and `off` says why).
  void setMulticast(std::function<std::string()> fn, std::string off = "") {
    multicast_ = std::move(fn);
    multicastOff_ = std::move(off);
  }
  // How many times the gossip sidecar was restarted (unset: single host);
  // /weft.Status reports them as a notice.
  void setSidecarRestarts(std::function<uint64_t()> fn) { sidecarRestarts_ = std::move(fn); }
  // Service VIPs on swarm networks (unset: off); told of every Join/Leave.
  void setServiceVips(services::VipManager* vips) { vips_ = vips; }
  // Names across hosts (issue 12): told of every Join/Leave; Join gives the
  // route to its responder. Always set in weft-plugin (on or off, it says why).
  void setNames(services::NameService* names) { names_ = names; }

 private:
  // Docker's NetworkDriver protocol (and weftctl's calls) put an error in
  // {"Err": ...}; its IpamDriver protocol in {"Error": ...}.
  enum class ErrorField { kErr, kError };
  static const char* errorKey(ErrorField f) { return f == ErrorField::kError ? "Error" : "Err"; }
  struct Route {
    ErrorField errorField;
    EmptyBody emptyBody;
    std::function<Result<std::string>(const std::string& body)> fn;
  };
  void add(const std::string& path, ErrorField errorField, EmptyBody emptyBody,
           std::function<Result<std::string>(const std::string&)> fn);
  void addNetworkRoutes();
  void addIpamRoutes();
  void addAdminRoutes();  // weftctl's /weft.* calls (plugin/api_admin.cc)
  ApiReply dispatch(const std::string& path, const std::string& body);

  driver::Driver& driver_;
  std::unordered_map<std::string, Route> routes_;
  std::function<Result<std::string>()> clusterStatus_;
  std::function<uint64_t()> sidecarRestarts_;
  std::vector<std::string> hostWarnings_;
  metrics::Metrics* metrics_ = nullptr;
  const driver::Prober* prober_ = nullptr;
  std::string proberOff_;  // why there is no prober
  services::VipManager* vips_ = nullptr;
  services::NameService* names_ = nullptr;
  std::function<std::string()> cryptoStatus_;
  std::function<std::string()> multicast_;
  std::string multicastOff_ = "single host: nothing to prune";
  std::function<std::string()> cryptoRotate_;
  std::string cryptoOff_;
};

}  // namespace weft::plugin
