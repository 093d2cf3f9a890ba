# cmake -DSOURCE_DIR=<gtest_fork_env> -DBINARY_DIR=<fresh dir> -DGENERATOR=<gen>
#       -DCTEST_COMMAND=<ctest> -P build_testing_off.cmake
#
# Configures gtest_fork_env as the top-level project with -DBUILD_TESTING=OFF
# (and GTEST_FORK_ENV_BUILD_TESTS at its default, ON) and fails unless no
# test is registered and neither tests/ nor examples/ was added.

file(REMOVE_RECURSE "${BINARY_DIR}")
execute_process(
  COMMAND "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${BINARY_DIR}" -G "${GENERATOR}"
          -DBUILD_TESTING=OFF
  RESULT_VARIABLE configured OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(NOT configured EQUAL 0)
  message(FATAL_ERROR "configure with -DBUILD_TESTING=OFF failed (${configured}):\n${output}")
endif()
foreach(dir tests examples)
  if(EXISTS "${BINARY_DIR}/${dir}")
    message(FATAL_ERROR "-DBUILD_TESTING=OFF still added ${dir}/ (${BINARY_DIR}/${dir})")
  endif()
endforeach()
execute_process(COMMAND "${CTEST_COMMAND}" --test-dir "${BINARY_DIR}" -N
                OUTPUT_VARIABLE listing ERROR_VARIABLE listing)
if(NOT listing MATCHES "Total Tests: 0")
  message(FATAL_ERROR "-DBUILD_TESTING=OFF still registers tests:\n${listing}")
endif()
message(STATUS "-DBUILD_TESTING=OFF: no tests")
