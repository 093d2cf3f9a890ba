#!/usr/bin/env bash
# Installs what the benchmarks need on top of the project's own dependencies,
# from Debian 12's packages: the wrk load generator and gnuplot (no X) for the
# plot (Google Benchmark is among the project's own).
set -euo pipefail
exec bash "$(dirname "$0")/../scripts/install_deps.sh" wrk gnuplot-nox
