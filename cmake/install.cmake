# Install rules and the CMake package of gtest_fork_env. Included by the
# top-level CMakeLists.txt when GTEST_FORK_ENV_INSTALL is on (the default when
# this is the top-level project).
#
# Installs:
#   include/gtest_fork_env/*.h          public headers, version.h among them
#   lib/libgtest_fork_env.a             (or .so with BUILD_SHARED_LIBS)
#   lib/cmake/gtest_fork_env/           gtest_fork_envConfig.cmake, its version
#                                       file, gtest_fork_envTargets*.cmake, the
#                                       cpp-httplib find module it uses and
#                                       gtest_fork_env_discover_tests.cmake
#   lib/libgtest_fork_env_server.a      what runs in a server process
#   lib/gtest_fork_env/libgtest_fork_env_checkpoint.so
#                                       Options::preload_checkpoint's library
#   lib/pkgconfig/gtest_fork_env.pc, gtest_fork_env_server.pc
#
# Exported targets: gtest_fork_env::gtest_fork_env, gtest_fork_env::server
# (what runs in a server process, no GoogleTest), and gtest_fork_env::httplib
# and gtest_fork_env::httplib_server when cpp-httplib was found. The build tree is exported too: a project can use
# find_package(gtest_fork_env) with gtest_fork_env_DIR set to this build
# directory, without installing.

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(GTEST_FORK_ENV_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/gtest_fork_env"
    CACHE STRING "Where to install the CMake package of gtest_fork_env, relative to the prefix")
set(GTEST_FORK_ENV_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
    CACHE STRING "Where to install gtest_fork_env.pc, relative to the prefix")

set(_gtest_fork_env_targets gtest_fork_env gtest_fork_env_server)
set(GTEST_FORK_ENV_WITH_HTTPLIB OFF)
if(TARGET gtest_fork_env_httplib)
  list(APPEND _gtest_fork_env_targets gtest_fork_env_httplib gtest_fork_env_httplib_server)
  set(GTEST_FORK_ENV_WITH_HTTPLIB ON)
endif()
# spdlog, if the library links it, is a private dependency: a static library
# still needs it at link time, a shared one does not.
get_target_property(_gtest_fork_env_type gtest_fork_env TYPE)
get_target_property(_gtest_fork_env_libs gtest_fork_env LINK_LIBRARIES)
if(_gtest_fork_env_type STREQUAL "STATIC_LIBRARY" AND "spdlog::spdlog" IN_LIST _gtest_fork_env_libs)
  set(GTEST_FORK_ENV_NEEDS_SPDLOG ON)
else()
  set(GTEST_FORK_ENV_NEEDS_SPDLOG OFF)
endif()

install(TARGETS ${_gtest_fork_env_targets}
  EXPORT gtest_fork_envTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# Options::preload_checkpoint's library, where the core looks for it.
install(TARGETS gtest_fork_env_checkpoint
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/gtest_fork_env)
# The source headers, then the generated version.h beside them.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/gtest_fork_env/include/gtest_fork_env
                  ${PROJECT_BINARY_DIR}/gtest_fork_env/include/gtest_fork_env
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")

install(EXPORT gtest_fork_envTargets
  NAMESPACE gtest_fork_env::
  DESTINATION ${GTEST_FORK_ENV_INSTALL_CMAKEDIR})

# While the major version is 0, a minor release may break the API.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_gtest_fork_env_compatibility SameMinorVersion)
else()
  set(_gtest_fork_env_compatibility SameMajorVersion)
endif()
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/gtest_fork_envConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY ${_gtest_fork_env_compatibility})

# Installed package.
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/gtest_fork_envConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake-install/gtest_fork_envConfig.cmake
  INSTALL_DESTINATION ${GTEST_FORK_ENV_INSTALL_CMAKEDIR}
  NO_SET_AND_CHECK_MACRO)
install(FILES
  ${PROJECT_BINARY_DIR}/cmake-install/gtest_fork_envConfig.cmake
  ${PROJECT_BINARY_DIR}/gtest_fork_envConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/Findhttplib.cmake
  ${PROJECT_SOURCE_DIR}/cmake/gtest_fork_env_discover_tests.cmake
  ${PROJECT_SOURCE_DIR}/cmake/gtest_fork_env_batch_tests.cmake
  DESTINATION ${GTEST_FORK_ENV_INSTALL_CMAKEDIR})

# Build-tree package (fmt does the same): the config and version file at the
# top of the build directory, the helpers copied beside them.
export(EXPORT gtest_fork_envTargets
  NAMESPACE gtest_fork_env::
  FILE ${PROJECT_BINARY_DIR}/gtest_fork_envTargets.cmake)
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/gtest_fork_envConfig.cmake.in
  ${PROJECT_BINARY_DIR}/gtest_fork_envConfig.cmake
  INSTALL_DESTINATION ${PROJECT_BINARY_DIR}
  INSTALL_PREFIX ${PROJECT_BINARY_DIR}
  NO_SET_AND_CHECK_MACRO)
configure_file(${PROJECT_SOURCE_DIR}/cmake/Findhttplib.cmake
               ${PROJECT_BINARY_DIR}/Findhttplib.cmake COPYONLY)
configure_file(${PROJECT_SOURCE_DIR}/cmake/gtest_fork_env_discover_tests.cmake
               ${PROJECT_BINARY_DIR}/gtest_fork_env_discover_tests.cmake COPYONLY)
configure_file(${PROJECT_SOURCE_DIR}/cmake/gtest_fork_env_batch_tests.cmake
               ${PROJECT_BINARY_DIR}/gtest_fork_env_batch_tests.cmake COPYONLY)

# pkg-config. A static library lists its own dependencies in Requires (not
# Requires.private), since `pkg-config --libs` without --static must already
# give a working link line.
set(GTEST_FORK_ENV_PC_REQUIRES "gtest")
set(GTEST_FORK_ENV_PC_REQUIRES_PRIVATE "")
if(GTEST_FORK_ENV_WITH_HTTPLIB)
  # For <gtest_fork_env/httplib_server.h>; its Cflags carry the
  # CPPHTTPLIB_*_SUPPORT defines that must match the library.
  string(APPEND GTEST_FORK_ENV_PC_REQUIRES " cpp-httplib")
endif()
if(GTEST_FORK_ENV_NEEDS_SPDLOG)
  string(APPEND GTEST_FORK_ENV_PC_REQUIRES " spdlog")
elseif("spdlog::spdlog" IN_LIST _gtest_fork_env_libs)
  set(GTEST_FORK_ENV_PC_REQUIRES_PRIVATE "spdlog")
endif()
# The prefix is found from the .pc file's own place (${pcfiledir}), so the
# file stays right after `cmake --install --prefix <dir>` or a move of the tree.
if(IS_ABSOLUTE "${GTEST_FORK_ENV_INSTALL_PKGCONFIGDIR}")
  set(GTEST_FORK_ENV_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _gtest_fork_env_up "/prefix/${GTEST_FORK_ENV_INSTALL_PKGCONFIGDIR}" "/prefix")
  string(REGEX REPLACE "/$" "" _gtest_fork_env_up "${_gtest_fork_env_up}")
  set(GTEST_FORK_ENV_PC_PREFIX "\${pcfiledir}/${_gtest_fork_env_up}")
endif()
# Absolute install dirs (a user may pass them absolute) are used as they are.
foreach(_gtest_fork_env_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_gtest_fork_env_dir}}")
    set(GTEST_FORK_ENV_PC_${_gtest_fork_env_dir} "${CMAKE_INSTALL_${_gtest_fork_env_dir}}")
  else()
    set(GTEST_FORK_ENV_PC_${_gtest_fork_env_dir}
        "\${prefix}/${CMAKE_INSTALL_${_gtest_fork_env_dir}}")
  endif()
endforeach()
configure_file(${PROJECT_SOURCE_DIR}/cmake/gtest_fork_env.pc.in
               ${PROJECT_BINARY_DIR}/gtest_fork_env.pc @ONLY)
# The server library alone, for a server executable that must not need
# GoogleTest.
configure_file(${PROJECT_SOURCE_DIR}/cmake/gtest_fork_env_server.pc.in
               ${PROJECT_BINARY_DIR}/gtest_fork_env_server.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/gtest_fork_env.pc ${PROJECT_BINARY_DIR}/gtest_fork_env_server.pc
        DESTINATION ${GTEST_FORK_ENV_INSTALL_PKGCONFIGDIR})
