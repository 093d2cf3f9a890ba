"""Under Bzlmod (MODULE.bazel; untested here): the `system` repository as
aliases of Bazel Central Registry modules, so the BUILD files need no change,
and the `cmake_sources` repository (CMake's source lists). Bazel 4.2.3 never
loads this file."""

load("//bazel:cmake_sources.bzl", "cmake_sources")

_ALIASES = {
    "gtest": "@googletest//:gtest",
    "gtest_main": "@googletest//:gtest_main",
    "gmock": "@googletest//:gtest",
    "httplib": "@cpp-httplib//:cpp-httplib",
    # The sample server only.
    "spdlog": "@spdlog//:spdlog",
    "nlohmann_json": "@nlohmann_json//:json",
    "cli11": "@cli11//:cli11",
}

# OpenSSL is loaded at run time and never linked (gtest_fork_env/src/
# openssl_api.cc): no module, whose library would be linked in. Its headers
# come from the machine (libssl-dev, OpenSSL 3) through the compiler's
# default include path, as libssl.so.3 does at run time.
_EMPTY = ["openssl_headers"]

def _system_impl(repository_ctx):
    lines = ['package(default_visibility = ["//visibility:public"])']
    for name, actual in _ALIASES.items():
        lines.append('alias(name = "%s", actual = "%s")' % (name, actual))
    for name in _EMPTY:
        lines.append('cc_library(name = "%s")' % name)
    repository_ctx.file("BUILD.bazel", "\n".join(lines) + "\n")

_system = repository_rule(implementation = _system_impl)

def _bcr_system_impl(module_ctx):
    _system(name = "system")
    cmake_sources(name = "cmake_sources")

bcr_system = module_extension(implementation = _bcr_system_impl)
