# SPDX-License-Identifier: Apache-2.0
# Embeds a service's migration files into a C source: coalition_embed_migrations(target prefix files...).

# Script mode: generate OUT from the files in FILES for symbol prefix PREFIX.
if(CMAKE_SCRIPT_MODE_FILE)
  # FILES arrives separated by '|': a ';' does not survive the custom command's quoting.
  string(REPLACE "|" ";" FILES "${FILES}")
  set(body "/* Generated from ${PREFIX} migrations; do not edit. */\n#include \"migrate.h\"\n\n")
  set(rows "")
  set(i 0)
  foreach(f ${FILES})
    get_filename_component(fname ${f} NAME)
    string(REGEX MATCH "^([0-9]+)_([a-z0-9_]+)\\.sql$" ok ${fname})
    if(NOT ok)
      message(FATAL_ERROR "migration file name must be NNNN_name.sql: ${fname}")
    endif()
    math(EXPR version "${CMAKE_MATCH_1}")
    string(REGEX REPLACE "\\.sql$" "" name ${fname})
    file(READ ${f} hex HEX)
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
    string(APPEND body "static const char m${i}[] = {${hex} 0x00};\n")
    string(APPEND rows "    {${version}, \"${name}\", m${i}},\n")
    math(EXPR i "${i} + 1")
  endforeach()
  string(APPEND body "\nconst co_migration ${PREFIX}_migrations[] = {\n${rows}};\n")
  string(APPEND body "const size_t ${PREFIX}_migrations_count = ${i};\n")
  file(WRITE ${OUT}.tmp "${body}")
  file(RENAME ${OUT}.tmp ${OUT})
  return()
endif()

function(coalition_embed_migrations target prefix)
  set(files)
  foreach(f ${ARGN})
    list(APPEND files ${CMAKE_CURRENT_SOURCE_DIR}/${f})
  endforeach()
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${prefix}_migrations.c)
  string(REPLACE ";" "|" files_arg "${files}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DPREFIX=${prefix} -DOUT=${out} "-DFILES=${files_arg}"
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedMigrations.cmake
    DEPENDS ${files} ${PROJECT_SOURCE_DIR}/cmake/EmbedMigrations.cmake
    COMMENT "embedding ${prefix} migrations"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
