#pragma once
namespace weft::plugin {
inline constexpr const char* kVersion = "0.1.0";
}
