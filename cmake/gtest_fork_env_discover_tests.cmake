# gtest_fork_env_discover_tests
# ------------------------------
#
#   gtest_fork_env_discover_tests(<target>
#       [TIMEOUT <seconds>]             # per test; default 60
#       [DISCOVERY_TIMEOUT <seconds>]   # for --gtest_list_tests; default 30
#       [LABELS <label>...]             # added to the label "gtest_fork_env"
#       [ALLOW_SKIPS]                   # report GTEST_SKIP() as skipped (see below)
#       [BATCH SUITE|BINARY]            # one ctest test per test suite or binary
#       [PROPERTIES <name> <value>...]  # more test properties; they win over ours
#       [<any other gtest_discover_tests argument>...])
#
# gtest_discover_tests() (CMake's GoogleTest module) with the settings a test
# binary that runs a ForkServerEnv needs: one ctest test per GoogleTest test,
# each in a process of its own with a server of its own, and a server that
# could not start is a FAILED test, never a skipped one. Every argument it does
# not know (TEST_PREFIX, TEST_FILTER, EXTRA_ARGS, WORKING_DIRECTORY,
# DISCOVERY_MODE, XML_OUTPUT_DIR, TEST_LIST, ...) goes to gtest_discover_tests
# unchanged.
#
# Why not plain gtest_discover_tests: it sets SKIP_REGULAR_EXPRESSION to
# "[  SKIPPED ]", and ctest then reports any test whose output contains that
# text as skipped, whatever its exit code. GoogleTest prints it for every test
# when a global environment's SetUp() has a fatal failure, so a broken server
# would end as "100% tests passed". ForkServerEnv itself already fails each
# test instead; this helper closes the door for every other environment in
# the binary too: by default no output is a skip, and the exit code decides
# (a test that calls GTEST_SKIP() exits 0 and counts as passed). ALLOW_SKIPS
# restores GoogleTest's pattern, for suites that want skips shown as skipped
# and whose environments never fail fatally.
#
# TIMEOUT bounds each test, server start and stop included: a hung server
# fails one test after TIMEOUT seconds instead of stalling the run.
# DISCOVERY_TIMEOUT bounds the --gtest_list_tests run at build time (with the
# default POST_BUILD discovery), which starts no server. Labels let you run or
# skip the server-backed suites: ctest -L gtest_fork_env, ctest -LE slow.
#
# BATCH: with Options::scope = Scope::kTest the library gives every test a
# fresh server inside one process, so a process per test buys nothing. BATCH
# SUITE makes one ctest test per GoogleTest test suite, run with
# --gtest_filter=<Suite>.* (the suites are listed after each build, like
# gtest_discover_tests' POST_BUILD mode); BATCH BINARY makes one ctest test for
# the whole binary. A failed batch fails as a whole; GoogleTest's summary at
# the end of its output names every failed test. TIMEOUT then bounds the
# batch (default 600 s). TEST_PREFIX, EXTRA_ARGS and LABELS apply as usual.
#
# Example:
#
#   find_package(gtest_fork_env CONFIG REQUIRED)   # or add_subdirectory/FetchContent
#   add_executable(api_test api_test.cc)
#   target_link_libraries(api_test PRIVATE gtest_fork_env::httplib GTest::gtest_main)
#   gtest_fork_env_discover_tests(api_test TIMEOUT 30 LABELS api)
#
# Available after find_package(gtest_fork_env), and after add_subdirectory or
# FetchContent_MakeAvailable of this project. Requires CMake 3.21.

include_guard(GLOBAL)
include(GoogleTest)

# How it works. CMake's gtest_discover_tests always gives each test
# SKIP_REGULAR_EXPRESSION "\[  SKIPPED \]", and ctest adds a second pattern to
# the first instead of replacing it, so a property cannot undo it. The helper
# therefore puts a small script in front of the one gtest_discover_tests
# registers in the directory's TEST_INCLUDE_FILES. At ctest time that script
# wraps set_tests_properties while the discovered tests are declared: it drops
# the default pattern and adds this helper's properties, passed unchanged (so
# list values such as several LABELS or ENVIRONMENT entries stay whole, which
# gtest_discover_tests' own PROPERTIES cannot do). Outside those includes the
# wrapper passes every call through untouched.

# Quotes `value` as a CMake bracket argument that holds it exactly.
function(_gtest_fork_env_bracket value out)
  set(eq "=")
  while(value MATCHES "]${eq}]")
    string(APPEND eq "=")
  endwhile()
  set(${out} "[${eq}[${value}]${eq}]" PARENT_SCOPE)
endfunction()

set(_GTEST_FORK_ENV_BATCH_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/gtest_fork_env_batch_tests.cmake")

# The BATCH forms of gtest_fork_env_discover_tests (see above).
function(_gtest_fork_env_add_batch target batch prefix timeout discovery_timeout labels
         extra_args properties)
  set(common_properties "TIMEOUT ${timeout} LABELS ${labels} ${properties}")
  if(batch STREQUAL "BINARY")
    add_test(NAME "${prefix}${target}" COMMAND ${target} ${extra_args})
    cmake_language(EVAL CODE
      "set_tests_properties([==[${prefix}${target}]==] PROPERTIES ${common_properties})")
    return()
  endif()
  if(NOT batch STREQUAL "SUITE")
    message(FATAL_ERROR "gtest_fork_env_discover_tests(${target}): BATCH takes SUITE or "
                        "BINARY, not '${batch}'")
  endif()
  set(ctest_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_batch_suites.cmake")
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND "${CMAKE_COMMAND}" -D "TEST_EXECUTABLE=$<TARGET_FILE:${target}>"
            -D "CTEST_FILE=${ctest_file}" -D "TEST_PREFIX=${prefix}"
            -D "TEST_PROPERTIES=${common_properties}" -D "EXTRA_ARGS=${extra_args}"
            -D "DISCOVERY_TIMEOUT=${discovery_timeout}"
            -P "${_GTEST_FORK_ENV_BATCH_SCRIPT}"
    VERBATIM)
  # ctest includes this even before the first build, when the list is not
  # there yet: that is a failing test, as with gtest_discover_tests.
  set(include_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_batch_include.cmake")
  file(WRITE "${include_file}"
    "if(EXISTS [==[${ctest_file}]==])\n"
    "  include([==[${ctest_file}]==])\n"
    "else()\n"
    "  add_test([==[${prefix}${target}_NOT_BUILT]==] [==[${target}_NOT_BUILT]==])\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${include_file}")
endfunction()

function(gtest_fork_env_discover_tests target)
  # GoogleTest.cmake keeps the path of its discovery script in a variable of
  # the directory that included it. Included above, in gtest_fork_env's own
  # directory under add_subdirectory/FetchContent, that variable is missing in
  # the caller's directory unless the caller ran FindGTest (which includes
  # GoogleTest.cmake), as a project that fetches GoogleTest does not. Included
  # here it is set in this function's scope, which gtest_discover_tests sees.
  include(GoogleTest)
  # gtest_discover_tests' own keywords are listed too, so that each of them
  # ends the value list of the keyword before it (PROPERTIES, LABELS).
  set(flags ALLOW_SKIPS NO_PRETTY_TYPES NO_PRETTY_VALUES)
  set(forwarded_single TEST_PREFIX TEST_SUFFIX WORKING_DIRECTORY TEST_LIST XML_OUTPUT_DIR
                       DISCOVERY_MODE)
  set(forwarded_multi EXTRA_ARGS TEST_FILTER)
  cmake_parse_arguments(PARSE_ARGV 1 _gfe "${flags}"
                        "TIMEOUT;DISCOVERY_TIMEOUT;BATCH;${forwarded_single}"
                        "LABELS;PROPERTIES;${forwarded_multi}")
  if(NOT TARGET ${target})
    message(FATAL_ERROR "gtest_fork_env_discover_tests: '${target}' is not a target")
  endif()
  if(NOT DEFINED _gfe_TIMEOUT AND DEFINED _gfe_BATCH)
    set(_gfe_TIMEOUT 600)
  elseif(NOT DEFINED _gfe_TIMEOUT)
    set(_gfe_TIMEOUT 60)
  endif()
  if(NOT DEFINED _gfe_DISCOVERY_TIMEOUT)
    set(_gfe_DISCOVERY_TIMEOUT 30)
  endif()

  set(forward ${_gfe_UNPARSED_ARGUMENTS})
  foreach(flag NO_PRETTY_TYPES NO_PRETTY_VALUES)
    if(_gfe_${flag})
      list(APPEND forward ${flag})
    endif()
  endforeach()
  foreach(keyword ${forwarded_single})
    if(DEFINED _gfe_${keyword})
      list(APPEND forward ${keyword} "${_gfe_${keyword}}")
    endif()
  endforeach()
  foreach(keyword ${forwarded_multi})
    if(DEFINED _gfe_${keyword})
      list(APPEND forward ${keyword} ${_gfe_${keyword}})
    endif()
  endforeach()

  # The properties every discovered test gets, as bracket arguments: ours
  # first, so that the caller's PROPERTIES win.
  set(labels gtest_fork_env ${_gfe_LABELS})
  list(REMOVE_DUPLICATES labels)
  _gtest_fork_env_bracket("${labels}" labels)
  set(properties "TIMEOUT ${_gfe_TIMEOUT} LABELS ${labels}")
  # PARSE_ARGV kept each argument whole, with its semicolons escaped.
  foreach(value IN LISTS _gfe_PROPERTIES)
    _gtest_fork_env_bracket("${value}" value)
    string(APPEND properties " ${value}")
  endforeach()

  if(DEFINED _gfe_BATCH)
    set(batch_properties "")
    foreach(value IN LISTS _gfe_PROPERTIES)
      _gtest_fork_env_bracket("${value}" value)
      string(APPEND batch_properties " ${value}")
    endforeach()
    _gtest_fork_env_add_batch(${target} "${_gfe_BATCH}" "${_gfe_TEST_PREFIX}" ${_gfe_TIMEOUT}
                              ${_gfe_DISCOVERY_TIMEOUT} "${labels}" "${_gfe_EXTRA_ARGS}"
                              "${batch_properties}")
    return()
  endif()

  get_property(includes_before DIRECTORY PROPERTY TEST_INCLUDE_FILES)
  gtest_discover_tests(${target} DISCOVERY_TIMEOUT ${_gfe_DISCOVERY_TIMEOUT} ${forward})
  get_property(includes_after DIRECTORY PROPERTY TEST_INCLUDE_FILES)
  list(LENGTH includes_before count_before)
  list(LENGTH includes_after count_after)
  math(EXPR added "${count_after} - ${count_before}")
  if(NOT added EQUAL 1)
    message(WARNING "gtest_fork_env_discover_tests(${target}): this CMake's gtest_discover_tests "
                    "registered ${added} include files instead of 1; the tests keep its default "
                    "SKIP_REGULAR_EXPRESSION and get none of the helper's properties.")
    return()
  endif()
  list(GET includes_after -1 gtest_include)

  if(_gfe_ALLOW_SKIPS)
    set(drop_default_skip FALSE)
  else()
    set(drop_default_skip TRUE)
  endif()
  _gtest_fork_env_bracket("${gtest_include}" gtest_include_arg)
  _gtest_fork_env_bracket("${properties}" properties_arg)
  string(REGEX REPLACE "_include\\.cmake$" "" base "${gtest_include}")
  set(wrapper "${base}_gtest_fork_env.cmake")
  file(WRITE "${wrapper}" "\
# Generated by gtest_fork_env_discover_tests(${target}); see
# gtest_fork_env_discover_tests.cmake. Included by ctest.
cmake_policy(VERSION 3.21)
get_property(_gtest_fork_env_wrapped GLOBAL PROPERTY GTEST_FORK_ENV_SET_TESTS_PROPERTIES_WRAPPED)
if(NOT _gtest_fork_env_wrapped)
  set_property(GLOBAL PROPERTY GTEST_FORK_ENV_SET_TESTS_PROPERTIES_WRAPPED TRUE)
  function(set_tests_properties)
    # Rebuild the call from bracket arguments, so no argument is split or
    # joined on its way to the original command.
    set(code \"_set_tests_properties(\")
    set(seen_properties FALSE)
    set(index 0)
    while(index LESS ARGC)
      set(value \"\${ARGV\${index}}\")
      math(EXPR index \"\${index} + 1\")
      if(DEFINED _gtest_fork_env_properties AND seen_properties
         AND _gtest_fork_env_drop_default_skip AND value STREQUAL \"SKIP_REGULAR_EXPRESSION\"
         AND index LESS ARGC AND \"\${ARGV\${index}}\" STREQUAL \"\\\\[  SKIPPED \\\\]\")
        math(EXPR index \"\${index} + 1\")
        continue()
      endif()
      set(eq \"=\")
      while(value MATCHES \"]\${eq}]\")
        string(APPEND eq \"=\")
      endwhile()
      string(APPEND code \" [\${eq}[\${value}]\${eq}]\")
      if(DEFINED _gtest_fork_env_properties AND NOT seen_properties
         AND value STREQUAL \"PROPERTIES\")
        set(seen_properties TRUE)
        # Once per test, in front of gtest_discover_tests' own properties.
        if(NOT \"\${ARGV0}\" IN_LIST _gtest_fork_env_done)
          string(APPEND code \" \${_gtest_fork_env_properties}\")
          list(APPEND _gtest_fork_env_done \"\${ARGV0}\")
          set(_gtest_fork_env_done \"\${_gtest_fork_env_done}\" PARENT_SCOPE)
        endif()
      endif()
    endwhile()
    cmake_language(EVAL CODE \"\${code})\")
  endfunction()
endif()
set(_gtest_fork_env_properties ${properties_arg})
set(_gtest_fork_env_drop_default_skip ${drop_default_skip})
set(_gtest_fork_env_done \"\")
include(${gtest_include_arg})
unset(_gtest_fork_env_properties)
unset(_gtest_fork_env_drop_default_skip)
unset(_gtest_fork_env_done)
")
  list(REMOVE_AT includes_after -1)
  set_property(DIRECTORY PROPERTY TEST_INCLUDE_FILES ${includes_after} "${wrapper}")
endfunction()
