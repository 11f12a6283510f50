// DriverTest: a Driver on the fake kernel in a temporary state directory,
// restartable (same kernel, new driver), and the request builders its tests
// share (driver_test.cc: networks and endpoints; driver_state_test.cc: state,
// restarts and reconcile). One fixture type for both files: gtest requires a
// test suite's tests to share their fixture class. Also RecordingCluster, the
// control plane's stand-in for tests of what a driver publishes.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "driver/cluster.h"
#include "driver/driver.h"
#include "driver/names.h"
#include "kernel/fake_kernel.h"
#include "tests/support/temp_dir.h"

namespace weft::test {

inline std::string id(char c, int n = 64) { return std::string(n, c); }

inline driver::CreateNetworkRequest net(const std::string& nid, const std::string& pool = "10.10.0.0/24",
                                        std::map<std::string, std::string> generic = {}) {
  driver::CreateNetworkRequest r;
  r.networkId = nid;
  r.generic = std::move(generic);
  auto gw = pool.substr(0, pool.rfind('.')) + ".1/" + pool.substr(pool.find('/') + 1);
  r.ipv4.push_back({"", pool, gw, {}});
  return r;
}

inline driver::CreateEndpointRequest ep(const std::string& nid, const std::string& eid,
                                        const std::string& addr, const std::string& mac = "") {
  return {nid, eid, {addr, "", mac}};
}

inline bool hasLink(kernel::Kernel& k, const std::string& ns, const std::string& name) {
  return k.getLink(ns, name).ok();
}

inline bool hasNetns(kernel::Kernel& k, const std::string& ns) {
  auto l = k.listNetns();
  return l.ok() && std::find(l->begin(), l->end(), ns) != l->end();
}

// Keeps what a driver publishes, withdraws and is told to join through, in
// order, so a test can check it or hand the records to another driver.
class RecordingCluster : public driver::Cluster {
 public:
  void publish(const driver::EndpointRecord& r) override { published.push_back(r); }
  void withdraw(const std::string& network, const std::string& endpoint) override {
    withdrawn.emplace_back(network, endpoint);
  }
  void addSeed(const std::string& address) override { seeds.push_back(address); }
  std::vector<driver::EndpointRecord> published;
  std::vector<std::pair<std::string, std::string>> withdrawn;  // network, endpoint
  std::vector<std::string> seeds;
};

class DriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_ = std::make_unique<kernel::FakeKernel>(dir_ / "netns");
    cfg_.stateDir = dir_.path();
    cfg_.advertiseAddr = "198.18.0.1";
    driver_ = std::make_unique<driver::Driver>(cfg_, *kernel_);
    ASSERT_TRUE(driver_->start().ok());
  }
  // A plugin restart: same kernel (objects outlive the process), new driver.
  Status restart(driver::ReconcileReport* report = nullptr) {
    driver_ = std::make_unique<driver::Driver>(cfg_, *kernel_);
    return driver_->start(report);
  }

  TempDir dir_;
  driver::DriverConfig cfg_;
  std::unique_ptr<kernel::FakeKernel> kernel_;
  std::unique_ptr<driver::Driver> driver_;
};

}  // namespace weft::test
