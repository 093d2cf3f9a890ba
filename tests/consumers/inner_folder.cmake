# cmake -DSOURCE_DIR=<gtest_fork_env> -DCONSUMER_DIR=<tests/consumers>
#       -DBINARY_DIR=<fresh dir> -DGENERATOR=<gen> -P inner_folder.cmake
#
# Configures the consumer in CONSUMER_MODE inner_folder, which adds
# <gtest_fork_env>/gtest_fork_env (the library's inner folder) by mistake.
# Passes only when configuring fails and the message names the folder to use.

file(REMOVE_RECURSE "${BINARY_DIR}")
execute_process(
  COMMAND "${CMAKE_COMMAND}" -S "${CONSUMER_DIR}" -B "${BINARY_DIR}" -G "${GENERATOR}"
          -DCONSUMER_MODE=inner_folder "-DGTEST_FORK_ENV_SOURCE_DIR=${SOURCE_DIR}"
  RESULT_VARIABLE configured OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(configured EQUAL 0)
  message(FATAL_ERROR "add_subdirectory of the inner folder configured:\n${output}")
endif()
# CMake wraps long messages: compare with the whitespace collapsed.
string(REGEX REPLACE "[ \t\r\n]+" " " flat "${output}")
set(expected "Use the folder above it, which holds the top-level CMakeLists.txt: "
             "add_subdirectory(${SOURCE_DIR})")
string(CONCAT expected ${expected})
string(FIND "${flat}" "${expected}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "configuring failed without naming the right folder; expected "
                      "\"${expected}\" in:\n${output}")
endif()
message(STATUS "the inner folder is refused with a message naming ${SOURCE_DIR}")
