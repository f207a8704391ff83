# distro_resolve_backend(<NAME> <found> <reason-if-missing>)
#
# Resolves the cache option DISTRO_<NAME> (AUTO, ON or OFF) against whether
# its dependencies were found, sets DISTRO_HAVE_<NAME> to 1 or 0, and records
# a one-line summary for the configure report. ON with a missing dependency
# stops configure with the reason.

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
  elseif(found)
    set(have 1)
    set(line "on")
  elseif(value STREQUAL "ON")
    message(FATAL_ERROR "DISTRO_${name}=ON but ${reason}")
  else()
    set(have 0)
    set(line "off (${reason})")
  endif()
  set(DISTRO_HAVE_${name} ${have} PARENT_SCOPE)
  set_property(GLOBAL APPEND_STRING PROPERTY DISTRO_BACKEND_SUMMARY "\n    ${name}: ${line}")
endfunction()
