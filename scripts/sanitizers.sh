#!/usr/bin/env bash
# The test suite built and run under AddressSanitizer and UndefinedBehavior-
# Sanitizer (the asan preset in CMakePresets.json). Forked and re-executed
# servers run instrumented too. Left out: the soak (a fork of an ASan process
# copies its huge shadow mappings: 2,000 cycles took over 120 s here, against
# 28 s without ASan) and the consumer builds (they rebuild the library; the
# plain run has both).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh
cmake --preset asan >/dev/null
cmake --build --preset asan
# Ipv6.TlsServerOnLoopbackSix is left out here: cpp-httplib 0.11's client,
# verifying an IPv6 host, compares 16 bytes against every IP address in the
# certificate, including the 4-byte 127.0.0.1 (a heap over-read in
# SSLClient::verify_host_with_subject_alt_name, which ASan reports; fixed
# upstream). The plain run has the test; curl's check of the same server runs
# there too. docs/https.md says so.
ctest --preset asan -LE 'consumer|soak' -E '^Ipv6\.TlsServerOnLoopbackSix$' --timeout 600
