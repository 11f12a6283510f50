#pragma once
// Reading Prometheus' text format in tests.

#include <sstream>
#include <string>

namespace weft::test {

// The value of the sample line `series value` ("name{labels}" exactly as
// the exposition writes it), or -1 if there is none.
inline double sampleValue(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return -1;
}

}  // namespace weft::test
