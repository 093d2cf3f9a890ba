"""Under Bzlmod (MODULE.bazel; untested here): the `system` repository as
aliases of Bazel Central Registry modules, so the BUILD files need no change.
Bazel 4.2.3 never loads this file."""

_ALIASES = {
    "gtest": "@googletest//:gtest",
    "gtest_main": "@googletest//:gtest_main",
    "gmock": "@googletest//:gtest",
    "httplib": "@cpp-httplib//:cpp-httplib",
    "fmt": "@fmt//:fmt",
    "spdlog": "@spdlog//:spdlog",
    "nlohmann_json": "@nlohmann_json//:json",
    "cli11": "@cli11//:cli11",
}

def _system_impl(repository_ctx):
    lines = ['package(default_visibility = ["//visibility:public"])']
    for name, actual in _ALIASES.items():
        lines.append('alias(name = "%s", actual = "%s")' % (name, actual))
    repository_ctx.file("BUILD.bazel", "\n".join(lines) + "\n")

_system = repository_rule(implementation = _system_impl)

def _bcr_system_impl(module_ctx):
    _system(name = "system")

bcr_system = module_extension(implementation = _bcr_system_impl)
