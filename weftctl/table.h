#pragma once
// weftctl's text output: left-aligned columns, JSON values as cells.

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace weft::weftctl {

// s padded to w, and the two spaces between columns.
std::string pad(std::string s, size_t w);
// A header line and rows, each column as wide as its widest cell.
void table(std::ostream& out, const std::vector<std::string>& head,
           const std::vector<std::vector<std::string>>& rows);
// A string as itself, anything else as its JSON text.
std::string str(const nlohmann::json& v);

}  // namespace weft::weftctl
