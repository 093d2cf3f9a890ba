#!/usr/bin/env bash
# no_deps_test.sh <found> <control>
# <found> (a genquery's output) must be empty: it lists the dependencies that
# a target must not have. <control>, the same query over a target that does
# have them, must not be empty: otherwise the query could see nothing and
# the check would pass for nothing.
set -euo pipefail
found=$1 control=$2
if [ ! -s "$control" ]; then
  echo "no_deps_test: the control query $control found nothing; the check cannot see" \
       "the dependencies it looks for. Fix the query in the BUILD file." >&2
  exit 1
fi
if [ -s "$found" ]; then
  echo "no_deps_test: $found lists dependencies that must not be there:" >&2
  cat "$found" >&2
  echo "Remove them from the target's deps (or from the deps of its libraries)." >&2
  exit 1
fi
echo "no_deps_test: none of the forbidden dependencies (control found $(wc -l < "$control"))"
