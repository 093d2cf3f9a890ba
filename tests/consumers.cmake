# Consumer builds: tests/consumers/ is built and tested as a separate project,
# the way a user's project would take gtest_fork_env, with
# `ctest --build-and-test` (fmt's find-package-test and add-subdirectory-test):
#
#   consumer.find_package      against this build installed into a temporary
#                              prefix (the consumer.install fixture)
#   consumer.find_package_build_tree
#                              against this build tree's export, uninstalled
#   consumer.add_subdirectory  add_subdirectory of this source tree
#   consumer.fetchcontent      FetchContent_Declare(SOURCE_DIR <this tree>)
#   consumer.fetchcontent_googletest
#                              the same, with GoogleTest itself from FetchContent
#                              of /usr/src/googletest and the system GoogleTest
#                              hidden (CMAKE_DISABLE_FIND_PACKAGE_GTest)
#   consumer.server_only       a production server's project: COMPONENTS
#                              httplib_server of the install, no GoogleTest on
#                              the machine (CMAKE_DISABLE_FIND_PACKAGE_GTest)
#   consumer.inner_folder      add_subdirectory of the inner gtest_fork_env/
#                              folder stops with a message naming the right one
#   consumer.build_testing_off this project configured with -DBUILD_TESTING=OFF
#                              registers no test and adds no test directory
#
# Run them with `ctest -L consumer`. Each one configures and builds a project
# of its own (the two subproject modes compile the library again), so they
# take a minute or so each.

set(_consumer_source "${CMAKE_CURRENT_SOURCE_DIR}/consumers")
set(_consumer_work "${CMAKE_CURRENT_BINARY_DIR}/consumers")
set(_consumer_prefix "${_consumer_work}/install")

# The consumer builds with this build's compiler, type and flags: a library
# built with -fsanitize=address only links into code built the same way.
set(_consumer_options
  "-DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}"
  "-DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}"
  "-DCMAKE_CXX_FLAGS=${CMAKE_CXX_FLAGS}"
  "-DCMAKE_EXE_LINKER_FLAGS=${CMAKE_EXE_LINKER_FLAGS}"
  "-DGTEST_FORK_ENV_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
# ctest --build-and-test runs the build tool with its default parallelism,
# which for Ninja is more jobs than cores; a job pool holds the nested builds
# to GTEST_FORK_ENV_CONSUMER_JOBS, and the PROCESSORS property tells ctest -j.
set(GTEST_FORK_ENV_CONSUMER_JOBS 2 CACHE STRING
    "Parallel compile jobs of each consumer build (Ninja only)")
if(CMAKE_GENERATOR MATCHES "Ninja")
  list(APPEND _consumer_options
    "-DCMAKE_JOB_POOLS=consumer=${GTEST_FORK_ENV_CONSUMER_JOBS}"
    "-DCMAKE_JOB_POOL_COMPILE=consumer"
    "-DCMAKE_JOB_POOL_LINK=consumer")
endif()
set(_consumer_generator --build-generator "${CMAKE_GENERATOR}")
if(CMAKE_GENERATOR_PLATFORM)
  list(APPEND _consumer_generator --build-generator-platform "${CMAKE_GENERATOR_PLATFORM}")
endif()
if(CMAKE_GENERATOR_TOOLSET)
  list(APPEND _consumer_generator --build-generator-toolset "${CMAKE_GENERATOR_TOOLSET}")
endif()
if(CMAKE_MAKE_PROGRAM)
  list(APPEND _consumer_generator --build-makeprogram "${CMAKE_MAKE_PROGRAM}")
endif()
get_property(_consumer_multi_config GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
if(_consumer_multi_config)
  set(_consumer_config -C $<CONFIG>)
  set(_consumer_install_config --config $<CONFIG>)
else()
  set(_consumer_config "")
  set(_consumer_install_config "")
endif()

# consumer_add_test(<name> <mode> [-D options...]): test consumer.<name>
# builds the consumer in CONSUMER_MODE <mode> and runs its tests.
function(consumer_add_test name mode)
  add_test(NAME consumer.${name}
    COMMAND ${CMAKE_CTEST_COMMAND} ${_consumer_config}
      --build-and-test "${_consumer_source}" "${_consumer_work}/${name}"
      ${_consumer_generator}
      --build-options ${_consumer_options} "-DCONSUMER_MODE=${mode}" ${ARGN}
      --test-command ${CMAKE_CTEST_COMMAND} ${_consumer_config}
        --output-on-failure --no-tests=error)
  set_tests_properties(consumer.${name} PROPERTIES
    LABELS consumer TIMEOUT 600 PROCESSORS ${GTEST_FORK_ENV_CONSUMER_JOBS})
endfunction()

# The consumer's test needs the cpp-httplib adapter.
if(NOT TARGET gtest_fork_env_httplib)
  message(STATUS "gtest_fork_env: no cpp-httplib, so no consumer tests")
  return()
endif()

if(GTEST_FORK_ENV_INSTALL)
  # A fresh prefix for every run, then this build installed into it.
  add_test(NAME consumer.install_clean
    COMMAND ${CMAKE_COMMAND} -E rm -rf "${_consumer_prefix}")
  add_test(NAME consumer.install
    COMMAND ${CMAKE_COMMAND} --install "${PROJECT_BINARY_DIR}" --prefix "${_consumer_prefix}"
      ${_consumer_install_config})
  set_tests_properties(consumer.install_clean consumer.install PROPERTIES
    FIXTURES_SETUP gtest_fork_env_installed LABELS consumer)
  set_tests_properties(consumer.install PROPERTIES DEPENDS consumer.install_clean)

  # Only the prefix: the consumer must find everything else on its own.
  consumer_add_test(find_package find_package "-DCMAKE_PREFIX_PATH=${_consumer_prefix}")
  set_tests_properties(consumer.find_package PROPERTIES
    FIXTURES_REQUIRED gtest_fork_env_installed)
  # A production server's project, without GoogleTest: COMPONENTS
  # httplib_server of the installed package, with GoogleTest hidden.
  add_test(NAME consumer.server_only
    COMMAND ${CMAKE_CTEST_COMMAND} ${_consumer_config}
      --build-and-test "${_consumer_source}/server_only" "${_consumer_work}/server_only"
      ${_consumer_generator}
      --build-options ${_consumer_options} "-DCMAKE_PREFIX_PATH=${_consumer_prefix}"
        -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON
      --test-command ${CMAKE_CTEST_COMMAND} ${_consumer_config}
        --output-on-failure --no-tests=error)
  set_tests_properties(consumer.server_only PROPERTIES
    LABELS consumer TIMEOUT 600 PROCESSORS ${GTEST_FORK_ENV_CONSUMER_JOBS}
    FIXTURES_REQUIRED gtest_fork_env_installed)
  # The exported build tree, without installing.
  consumer_add_test(find_package_build_tree find_package
    "-Dgtest_fork_env_DIR=${PROJECT_BINARY_DIR}")
endif()

consumer_add_test(add_subdirectory add_subdirectory)
consumer_add_test(fetchcontent fetchcontent)

# googletest's own quick start: GoogleTest through FetchContent, none on the
# system. CMAKE_DISABLE_FIND_PACKAGE_GTest makes any find_package(GTest
# REQUIRED) an error, so the system's GoogleTest cannot hide a missing guard.
find_path(GTEST_FORK_ENV_GTEST_SOURCE_DIR CMakeLists.txt PATHS /usr/src/googletest
          NO_DEFAULT_PATH DOC "GoogleTest's sources, for consumer.fetchcontent_googletest")
if(GTEST_FORK_ENV_GTEST_SOURCE_DIR)
  consumer_add_test(fetchcontent_googletest fetchcontent_googletest
    "-DGTEST_SOURCE_DIR=${GTEST_FORK_ENV_GTEST_SOURCE_DIR}"
    -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON)
else()
  message(STATUS "gtest_fork_env: no /usr/src/googletest (googletest), so no "
                 "consumer.fetchcontent_googletest")
endif()

# add_subdirectory of the inner folder: configuring must stop with a message
# that names the right folder (tests/consumers/inner_folder.cmake).
add_test(NAME consumer.inner_folder
  COMMAND ${CMAKE_COMMAND} "-DSOURCE_DIR=${PROJECT_SOURCE_DIR}"
    "-DCONSUMER_DIR=${_consumer_source}" "-DBINARY_DIR=${_consumer_work}/inner_folder"
    "-DGENERATOR=${CMAKE_GENERATOR}" -P "${_consumer_source}/inner_folder.cmake")
set_tests_properties(consumer.inner_folder PROPERTIES LABELS consumer TIMEOUT 120)

# -DBUILD_TESTING=OFF, CTest's convention, turns the tests off at the top
# level (tests/consumers/build_testing_off.cmake says how it checks).
add_test(NAME consumer.build_testing_off
  COMMAND ${CMAKE_COMMAND} "-DSOURCE_DIR=${PROJECT_SOURCE_DIR}"
    "-DBINARY_DIR=${_consumer_work}/build_testing_off" "-DGENERATOR=${CMAKE_GENERATOR}"
    "-DCTEST_COMMAND=${CMAKE_CTEST_COMMAND}"
    -P "${_consumer_source}/build_testing_off.cmake")
set_tests_properties(consumer.build_testing_off PROPERTIES LABELS consumer TIMEOUT 300)
