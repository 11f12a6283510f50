#include "weftctl/table.h"

#include <algorithm>

namespace weft::weftctl {

std::string pad(std::string s, size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s + "  ";
}

void table(std::ostream& out, const std::vector<std::string>& head,
           const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(head.size());
  for (size_t i = 0; i < head.size(); ++i) w[i] = head[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  std::string line;
  for (size_t i = 0; i < head.size(); ++i) line += pad(head[i], w[i]);
  out << line << "\n";
  for (const auto& r : rows) {
    line.clear();
    for (size_t i = 0; i < r.size(); ++i) line += pad(r[i], w[i]);
    out << line << "\n";
  }
}

std::string str(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

}  // namespace weft::weftctl
