// libFuzzer target: request decoding and handling. The first byte picks a
// route, the rest is the body. Any crash, sanitizer report or non-JSON reply
// is a finding.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/log.h"
#include "driver/driver.h"
#include "kernel/fake_kernel.h"
#include "plugin/api.h"

namespace {

const char* kRoutes[] = {
    "/Plugin.Activate",
    "/NetworkDriver.GetCapabilities",
    "/NetworkDriver.CreateNetwork",
    "/NetworkDriver.AllocateNetwork",
    "/NetworkDriver.FreeNetwork",
    "/NetworkDriver.DeleteNetwork",
    "/NetworkDriver.CreateEndpoint",
    "/NetworkDriver.EndpointOperInfo",
    "/NetworkDriver.DeleteEndpoint",
    "/NetworkDriver.Join",
    "/NetworkDriver.Leave",
    "/NetworkDriver.DiscoverNew",
    "/NetworkDriver.DiscoverDelete",
    "/NetworkDriver.ProgramExternalConnectivity",
    "/NetworkDriver.RevokeExternalConnectivity",
    "/IpamDriver.GetCapabilities",
    "/IpamDriver.GetDefaultAddressSpaces",
    "/IpamDriver.RequestPool",
    "/IpamDriver.ReleasePool",
    "/IpamDriver.RequestAddress",
    "/IpamDriver.ReleaseAddress",
    "/Unknown.Route",
};

struct World {
  std::string dir;
  std::unique_ptr<weft::kernel::FakeKernel> kernel;
  std::unique_ptr<weft::driver::Driver> driver;
  std::unique_ptr<weft::plugin::Api> api;
  World() {
    weft::log::setLevel(weft::log::Level::kError);
    char tmpl[] = "/dev/shm/weft-fuzz-XXXXXX";
    dir = mkdtemp(tmpl);
    kernel = std::make_unique<weft::kernel::FakeKernel>(dir + "/netns");
    weft::driver::DriverConfig cfg;
    cfg.stateDir = dir;
    driver = std::make_unique<weft::driver::Driver>(cfg, *kernel);
    if (!driver->start().ok()) std::abort();
    api = std::make_unique<weft::plugin::Api>(*driver);
  }
  ~World() { std::system(("rm -rf " + dir).c_str()); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  if (size == 0) return 0;
  const char* route = kRoutes[data[0] % (sizeof(kRoutes) / sizeof(kRoutes[0]))];
  std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  auto reply = world.api->handle(route, body);
  auto j = nlohmann::json::parse(reply.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) std::abort();  // every reply is a JSON object
  if (reply.status != 200 && reply.status != 404 && reply.status != 413) std::abort();
  return 0;
}
