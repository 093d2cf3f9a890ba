# cmake -DSOURCE_DIR=<gtest_fork_env> -P check_plain_includes.cmake
#
# A file that belongs to the project is included plainly: if it is deleted,
# the build or CI must fail, not silently stop running its tests. Fails when
# a CMake file includes something OPTIONAL or tests a source path with
# if(EXISTS ...), or when a CI or project script runs one of the project's
# files only if it exists ([ -f fuzz/run.sh ]).

# Never into symlinked trees: Bazel's bazel-* links at the top lead into its
# output base and on into /usr (CMP0009 NEW: GLOB_RECURSE follows no links).
cmake_minimum_required(VERSION 3.21)

file(GLOB_RECURSE cmake_files RELATIVE "${SOURCE_DIR}"
     "${SOURCE_DIR}/CMakeLists.txt" "${SOURCE_DIR}/*/CMakeLists.txt" "${SOURCE_DIR}/*.cmake")
file(GLOB shell_files RELATIVE "${SOURCE_DIR}"
     "${SOURCE_DIR}/.ci/run" "${SOURCE_DIR}/scripts/*.sh" "${SOURCE_DIR}/bench/*.sh"
     "${SOURCE_DIR}/fuzz/*.sh")
set(source_dir_variable "\\$\\{(CMAKE_CURRENT_SOURCE_DIR|PROJECT_SOURCE_DIR|CMAKE_SOURCE_DIR|CMAKE_CURRENT_LIST_DIR)\\}")
set(project_folder "(bench|cmake|docs|examples|fuzz|gtest_fork_env|sample_server|scripts|tests)/")

set(offences "")
foreach(file IN LISTS cmake_files)
  if(file MATCHES "^build/|/build/|^build-|^_deps/|/_deps/|^bazel-")
    continue()  # build trees inside the source tree
  endif()
  file(STRINGS "${SOURCE_DIR}/${file}" lines)
  foreach(line IN LISTS lines)
    if(line MATCHES "^[ \t]*#")
      continue()
    endif()
    if(line MATCHES "(include|add_subdirectory)\\([^)]*OPTIONAL"
       OR line MATCHES "EXISTS[ \t]+\"?${source_dir_variable}")
      string(APPEND offences "  ${file}: ${line}\n")
    endif()
  endforeach()
endforeach()
foreach(file IN LISTS shell_files)
  file(STRINGS "${SOURCE_DIR}/${file}" lines)
  foreach(line IN LISTS lines)
    if(line MATCHES "\\[\\[? -[efdx] \"?(\\./)?${project_folder}")
      string(APPEND offences "  ${file}: ${line}\n")
    endif()
  endforeach()
endforeach()
if(offences)
  message(FATAL_ERROR "Project files included only if they exist; include them plainly, so "
                      "that a deleted file fails the build instead of silently dropping its "
                      "tests:\n${offences}")
endif()
message(STATUS "every project file is included plainly")
