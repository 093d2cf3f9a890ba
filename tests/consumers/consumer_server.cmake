# consumer_server: a production server built from a user's serve function,
# on the GoogleTest-free gtest_fork_env::httplib_server, and the ctest test
# consumer_server_links_no_gtest that reads its link line from the build
# files. Included by the consumer projects; needs GTEST_FORK_ENV_SOURCE_DIR.

add_executable(consumer_server "${CMAKE_CURRENT_LIST_DIR}/consumer_server.cc")
target_link_libraries(consumer_server PRIVATE gtest_fork_env::httplib_server)
if(CMAKE_GENERATOR MATCHES "Ninja" AND NOT CMAKE_GENERATOR MATCHES "Multi-Config")
  set(_link_file "-DLINK_FILE=${CMAKE_BINARY_DIR}/build.ninja" -DNINJA=ON)
elseif(CMAKE_GENERATOR MATCHES "Makefiles")
  set(_link_file "-DLINK_FILE=${CMAKE_CURRENT_BINARY_DIR}/CMakeFiles/consumer_server.dir/link.txt")
endif()
if(DEFINED _link_file)
  add_test(NAME consumer_server_links_no_gtest
    COMMAND ${CMAKE_COMMAND} ${_link_file} -DTARGET=consumer_server
            -P "${GTEST_FORK_ENV_SOURCE_DIR}/tests/support/check_link_line.cmake")
endif()
