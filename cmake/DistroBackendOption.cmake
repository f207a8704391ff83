# distro_resolve_backend(<NAME> <found> <reason-if-missing>)
#
# Resolves the cache option DISTRO_<NAME> (AUTO, ON or OFF) against whether
# its dependencies were found, sets DISTRO_HAVE_<NAME> to 1 or 0, and records
# a one-line summary for the configure report. ON with a missing dependency
# stops configure with the reason, which names what to install. The reason a
# backend is left out also lands in DISTRO_<NAME>_WHY (distro_config.h), so
# the runtime can tell a user asking for that backend what to install
# instead of advising -DDISTRO_<NAME>=ON, which would fail the same way.

set_property(GLOBAL PROPERTY DISTRO_BACKEND_SUMMARY "")

function(distro_resolve_backend name found reason)
  set(value "${DISTRO_${name}}")
  string(TOUPPER "${value}" value)
  if(NOT value MATCHES "^(AUTO|ON|OFF)$")
    message(FATAL_ERROR "DISTRO_${name}=${DISTRO_${name}}: expected AUTO, ON or OFF")
  endif()
  if(value STREQUAL "OFF")
    set(have 0)
    set(line "off (DISTRO_${name}=OFF)")
    set(why "it was turned off with -DDISTRO_${name}=OFF; reconfigure with -DDISTRO_${name}=AUTO")
  elseif(found)
    set(have 1)
    set(line "on")
    set(why "")
  elseif(value STREQUAL "ON")
    message(FATAL_ERROR "DISTRO_${name}=ON but ${reason}. Install what is missing, or configure with -DDISTRO_${name}=AUTO to build without this backend when it is missing")
  else()
    set(have 0)
    set(line "off (${reason})")
    set(why "${reason}")
  endif()
  set(DISTRO_HAVE_${name} ${have} PARENT_SCOPE)
  string(REPLACE "\"" "'" why "${why}")
  set(DISTRO_${name}_WHY "${why}" PARENT_SCOPE)
  set_property(GLOBAL APPEND_STRING PROPERTY DISTRO_BACKEND_SUMMARY "\n    ${name}: ${line}")
endfunction()
