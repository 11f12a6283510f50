// weft-esp-epochs-bench: what EspEpochBook (driver/esp_epochs.h) spends
// recording outbound SAs durably on a real disk -- esp-epochs.json written
// to a temporary file, fsync'd, renamed, the directory fsync'd -- when N
// peers get their SAs at one epoch (a start, or the pairs moved by a
// rotation). Two cases:
//   * the peers' epoch records not known to the book: one write per peer
//     (what every new peer cost before the book recorded the known peers
//     together);
//   * the records known (as the gossip delivers them before the plane
//     asks): one write for all.
// Prints numbers; not a test. The state file lives in a temporary directory
// under DIR (default $TMPDIR or /tmp: pick one on the disk that holds the
// state directory), removed at exit.
//
//   weft-esp-epochs-bench [peers, default 1024] [DIR]

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "driver/crypto_select.h"
#include "driver/esp_epochs.h"

using namespace weft;
using namespace weft::driver;

namespace {

// The real file access, counted.
class CountingFiles : public EspEpochFiles {
 public:
  Result<std::string> read(const std::string& path) override { return realEspEpochFiles().read(path); }
  Status writeDurably(const std::string& path, const std::string& content) override {
    ++writes;
    return realEspEpochFiles().writeDurably(path, content);
  }
  size_t writes = 0;
};

struct TempDir {
  explicit TempDir(const std::string& under) {
    std::string tmpl = under + "/weft-esp-epochs-bench.XXXXXX";
    if (mkdtemp(tmpl.data())) path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

std::string host(size_t i) {
  return "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
         std::to_string(i % 256);
}

// N peers get an outbound SA at the book's current epoch; false on an error.
bool run(const std::string& dir, size_t peers, bool recordsKnown) {
  const std::string path = dir + "/" + kEspEpochsFile;
  std::filesystem::remove(path);
  CountingFiles files;
  auto book = EspEpochBook::open({path, "198.18.0.1", {}, &realEspEpochClock(), &files});
  if (!book.ok()) {
    std::fprintf(stderr, "esp-epochs-bench: %s\n", book.error().message.c_str());
    return false;
  }
  if (recordsKnown)
    for (size_t i = 0; i < peers; ++i)
      if (auto st = (*book)->apply(EspEpochBook::recordFor(5, host(i)), true); !st) {
        std::fprintf(stderr, "esp-epochs-bench: %s\n", st.error().message.c_str());
        return false;
      }
  const size_t before = files.writes;
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < peers; ++i)
    if (auto st = (*book)->willCreateOut(host(i), (*book)->current()); !st) {
      std::fprintf(stderr, "esp-epochs-bench: %s\n", st.error().message.c_str());
      return false;
    }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%-34s %6zu %8zu %12.1f %14.1f\n",
              recordsKnown ? "records known (batched)" : "records unknown (one per peer)", peers,
              files.writes - before, ms, ms * 1000 / static_cast<double>(peers));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t peers = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1024;
  const char* tmp = getenv("TMPDIR");
  const std::string under = argc > 2 ? argv[2] : tmp && *tmp ? tmp : "/tmp";
  if (peers == 0 || peers > kMaxCryptoCapsHosts) {
    std::fprintf(stderr, "usage: weft-esp-epochs-bench [peers 1..%zu] [DIR]\n", kMaxCryptoCapsHosts);
    return 2;
  }
  TempDir dir(under);
  if (dir.path.empty()) {
    std::perror(("esp-epochs-bench: mkdtemp under " + under).c_str());
    return 1;
  }
  std::printf("esp-epochs.json in %s: outbound SAs for %zu peers at one epoch\n", dir.path.c_str(), peers);
  std::printf("%-34s %6s %8s %12s %14s\n", "case", "peers", "writes", "total ms", "us per peer");
  return run(dir.path, peers, false) && run(dir.path, peers, true) ? 0 : 1;
}
