#pragma once

// Small helpers shared by the rounds-based benchmarks (program_clone_bench,
// big_template_bench): a failure printed, percentiles, the load average,
// and their --name=value flags.

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "server_instance.h"

namespace bench {

// True (and the failure printed, after `who`) when there is one.
inline bool Fails(const char* who, const gtest_fork_env::detail::Failure& failure) {
  if (failure) std::fprintf(stderr, "%s: %s\n", who, failure->c_str());
  return failure.has_value();
}

// The value at fraction `p` (0.5: the median) of `values`; 0 when empty.
inline double Percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[static_cast<size_t>(p * static_cast<double>(values.size() - 1))];
}

// /proc/loadavg's 1, 5 and 15 minute figures.
inline std::string LoadAverage() {
  std::ifstream file("/proc/loadavg");
  std::string one, five, fifteen;
  file >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

// The value of `--name=value` in `arg` (`name` with its dashes), pointing
// into `arg` itself; nullptr for another argument.
inline const char* FlagValue(const char* arg, const std::string& name) {
  return std::strncmp(arg, (name + "=").c_str(), name.size() + 1) == 0 ? arg + name.size() + 1
                                                                       : nullptr;
}

}  // namespace bench
