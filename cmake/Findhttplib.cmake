# Findhttplib
# -----------
# Finds cpp-httplib and provides the imported target httplib::httplib.
#
# Takes upstream's CMake package (httplibConfig.cmake) when there is one, and
# falls back to pkg-config's cpp-httplib, which is all Debian ships. The
# pkg-config Cflags carry the CPPHTTPLIB_*_SUPPORT defines that must match the
# compiled library, so they are passed on unchanged.
#
# Result variables: httplib_FOUND, httplib_VERSION.

if(TARGET httplib::httplib)
  set(httplib_FOUND TRUE)
  return()
endif()

find_package(httplib CONFIG QUIET)
if(httplib_FOUND AND TARGET httplib::httplib)
  include(FindPackageHandleStandardArgs)
  find_package_handle_standard_args(httplib CONFIG_MODE)
  return()
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_CPP_HTTPLIB QUIET IMPORTED_TARGET cpp-httplib)
endif()
if(PC_CPP_HTTPLIB_FOUND)
  add_library(httplib::httplib INTERFACE IMPORTED)
  target_link_libraries(httplib::httplib INTERFACE PkgConfig::PC_CPP_HTTPLIB)
  set(httplib_VERSION "${PC_CPP_HTTPLIB_VERSION}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(httplib
  REQUIRED_VARS PC_CPP_HTTPLIB_FOUND
  VERSION_VAR httplib_VERSION)
