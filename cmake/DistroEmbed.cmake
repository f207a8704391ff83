# distro_embed(TARGET <target> SYMBOL <c_symbol> FILE <path>)
#
# Compiles <path> into <target> as `const unsigned char <c_symbol>[]` (with a
# trailing NUL) and `const unsigned long <c_symbol>_size`, so an installed
# binary needs no source tree. The generated source is rebuilt whenever the
# file changes. Works from any directory, not only the one defining <target>.

if(NOT TARGET distro_embed_file)
  add_executable(distro_embed_file ${CMAKE_CURRENT_LIST_DIR}/embed_file.c)
endif()

function(distro_embed)
  cmake_parse_arguments(E "" "TARGET;SYMBOL;FILE" "" ${ARGN})
  if(NOT E_TARGET OR NOT E_SYMBOL OR NOT E_FILE)
    message(FATAL_ERROR "distro_embed: TARGET, SYMBOL and FILE are required")
  endif()
  get_filename_component(in "${E_FILE}" ABSOLUTE)
  set(out "${CMAKE_BINARY_DIR}/embedded/${E_SYMBOL}.c")
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${CMAKE_BINARY_DIR}/embedded"
    COMMAND distro_embed_file "${in}" "${out}" ${E_SYMBOL}
    DEPENDS "${in}" distro_embed_file
    COMMENT "Embedding ${E_FILE} as ${E_SYMBOL}"
    VERBATIM)
  # The rule lives in the calling directory; a custom target there builds
  # the file, so a target defined in another directory (the library is
  # defined at the top) can compile it.
  add_custom_target(distro_embed_${E_SYMBOL} DEPENDS "${out}")
  add_dependencies(${E_TARGET} distro_embed_${E_SYMBOL})
  target_sources(${E_TARGET} PRIVATE "${out}")
endfunction()
