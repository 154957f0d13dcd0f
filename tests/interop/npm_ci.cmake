# SPDX-License-Identifier: Apache-2.0
# The npm fixture: installs the node interop client's dependencies into the build tree.
#
#   cmake -DSRC=<tests/interop> -DDST=<build>/interop-node -DNPM=<npm> -P npm_ci.cmake
#
# Copies package.json and package-lock.json to DST and runs `npm ci --prefix DST` (exactly the
# locked versions; needs the registry). Nothing is installed into the source tree. When DST
# already holds an install made from the same two files, nothing is done.
foreach(v SRC DST NPM)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "npm_ci.cmake: -D${v}=... is required")
  endif()
endforeach()
if(NOT EXISTS "${NPM}")
  message(FATAL_ERROR "npm not found (install npm): the node interop test cannot run")
endif()

set(stamp "${DST}/.coalition-npm-ci.stamp")
file(SHA256 "${SRC}/package.json" h1)
file(SHA256 "${SRC}/package-lock.json" h2)
set(want "${h1} ${h2}")
if(EXISTS "${stamp}" AND EXISTS "${DST}/node_modules/@grpc/grpc-js/package.json"
   AND EXISTS "${DST}/node_modules/@grpc/proto-loader/package.json")
  file(READ "${stamp}" have)
  if(have STREQUAL want)
    message(STATUS "npm: ${DST}/node_modules is up to date")
    return()
  endif()
endif()

file(REMOVE "${stamp}")
file(MAKE_DIRECTORY "${DST}")
file(COPY_FILE "${SRC}/package.json" "${DST}/package.json")
file(COPY_FILE "${SRC}/package-lock.json" "${DST}/package-lock.json")
execute_process(
  COMMAND "${NPM}" ci --prefix "${DST}" --no-audit --no-fund --loglevel=error
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "npm ci --prefix ${DST} failed (${rc}); it needs the npm registry")
endif()
file(WRITE "${stamp}" "${want}")
message(STATUS "npm: installed the locked packages into ${DST}/node_modules")
