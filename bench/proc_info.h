#pragma once
// Benchmarks' view of processes they started, from /proc: resident set
// size, CPU time, parent, start time, and a child by its executable.

#include <dirent.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace weft::bench {

// VmRSS of `pid` in KiB; -1 if it is gone.
inline long rssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// What /proc/<pid>/stat says of a process: parent, CPU ticks, start time
// (which, with the pid, names one process even after the pid is reused).
struct ProcStat {
  pid_t ppid = 0;
  uint64_t cpuTicks = 0;
  uint64_t startTime = 0;
  bool ok = false;
};

inline ProcStat procStat(pid_t pid) {
  ProcStat s;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos || close + 2 > text.size()) return s;
  std::istringstream rest(text.substr(close + 2));
  std::vector<std::string> t{std::istream_iterator<std::string>(rest), std::istream_iterator<std::string>()};
  if (t.size() < 20) return s;
  // Fields from 3 (state): ppid is 4, utime 14, stime 15, starttime 22.
  s.ppid = static_cast<pid_t>(std::stol(t[1]));
  s.cpuTicks = std::stoull(t[11]) + std::stoull(t[12]);
  s.startTime = std::stoull(t[19]);
  s.ok = true;
  return s;
}

// A child of `parent` whose executable is named `exe`, or -1.
inline pid_t childOf(pid_t parent, const std::string& exe) {
  DIR* d = ::opendir("/proc");
  if (!d) return -1;
  pid_t found = -1;
  while (dirent* e = ::readdir(d)) {
    pid_t p = static_cast<pid_t>(std::atol(e->d_name));
    if (p <= 0 || procStat(p).ppid != parent) continue;
    char path[4096];
    ssize_t n = ::readlink(("/proc/" + std::to_string(p) + "/exe").c_str(), path, sizeof path - 1);
    if (n > 0 && std::string(path, static_cast<size_t>(n)).ends_with("/" + exe)) found = p;
  }
  ::closedir(d);
  return found;
}

}  // namespace weft::bench
