#pragma once
// A directory removed (recursively) when the test ends, also on failure.

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace weft::test {

class TempDir {
 public:
  explicit TempDir(const char* tag = "weft-test") {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/" + tag + "-XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    path_ = p ? std::string(p) : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

}  // namespace weft::test
