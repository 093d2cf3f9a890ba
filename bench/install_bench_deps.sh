#!/usr/bin/env bash
# Installs what the benchmarks need on top of scripts/install_deps.sh, from
# Debian 12's packages: Google Benchmark, the wrk load generator and gnuplot
# (no X) for the plot. Run as root; does nothing that is already there.
set -euo pipefail

packages=(
  libbenchmark-dev
  wrk
  gnuplot-nox
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install_bench_deps: missing packages: ${missing[*]}" >&2
  echo "install_bench_deps: run as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
