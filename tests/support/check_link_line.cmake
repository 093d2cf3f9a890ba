# cmake -DLINK_FILE=<file> -DTARGET=<target> [-DNINJA=ON] -P check_link_line.cmake
#
# Fails when the link line of executable TARGET names GoogleTest (libgtest,
# libgmock, their _main variants, or -lgtest/-lgmock). The link line is read
# from what the build runs: Ninja's build.ninja (NINJA=ON), or the Makefile
# generators' CMakeFiles/<target>.dir/link.txt. A static libgtest that
# contributes no code leaves no trace in the executable, so ldd cannot tell;
# the link line can.

if(NOT EXISTS "${LINK_FILE}")
  message(FATAL_ERROR "check_link_line: ${LINK_FILE} does not exist; build ${TARGET} first")
endif()
if(NINJA)
  # The edge that links TARGET, and its indented variables after it.
  file(STRINGS "${LINK_FILE}" lines)
  set(in_edge OFF)
  set(link_line "")
  foreach(line IN LISTS lines)
    if(line MATCHES "^build [^:]*${TARGET}: CXX_EXECUTABLE_LINKER__${TARGET}_")
      set(in_edge ON)
      string(APPEND link_line "${line}\n")
    elseif(in_edge AND line MATCHES "^  ")
      string(APPEND link_line "${line}\n")
    elseif(in_edge)
      break()
    endif()
  endforeach()
else()
  file(READ "${LINK_FILE}" link_line)
endif()
if(link_line STREQUAL "")
  message(FATAL_ERROR "check_link_line: no link step of ${TARGET} in ${LINK_FILE}")
endif()

string(REGEX REPLACE "[ \t\n]+" ";" tokens "${link_line}")
set(found "")
foreach(token IN LISTS tokens)
  get_filename_component(name "${token}" NAME)
  if(name MATCHES "^lib(gtest|gmock)(_main)?(d)?\\.(a|so)" OR token MATCHES "^-l(gtest|gmock)(_main)?$")
    list(APPEND found "${token}")
  endif()
endforeach()
if(found)
  message(FATAL_ERROR "${TARGET} links GoogleTest (${found}); what runs in a server process must "
                      "link gtest_fork_env::server or gtest_fork_env::httplib_server, not "
                      "gtest_fork_env::gtest_fork_env. Link step:\n${link_line}")
endif()
message(STATUS "${TARGET}: no GoogleTest on the link line")
