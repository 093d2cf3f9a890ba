#!/usr/bin/env bash
# Installs what gtest_fork_env needs to build and test, from Debian 12's
# packages, plus any package named as an argument (the benchmarks and the
# fuzzers add theirs). Run as root (or through sudo); does nothing that is
# already there, and without root prints the apt-get line to run.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev googletest  # googletest: its sources, for consumer.fetchcontent_googletest
  libcpp-httplib-dev libspdlog-dev
  nlohmann-json3-dev libcli11-dev
  libbenchmark-dev
  libssl-dev openssl nginx-light
  curl python3 python3-flask procps redis-server iproute2 util-linux  # flask: the preload tests
  "$@"
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
  echo "install_deps: missing packages: ${missing[*]}" >&2
  echo "install_deps: run as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
