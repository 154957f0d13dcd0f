# SPDX-License-Identifier: Apache-2.0
# Interoperability: clients that are not ours drive one scenario through the gateway over mTLS.
# Included by tests/CMakeLists.txt after the integration section (test-stack, STACK_ENV, the
# pki and pg fixtures). A missing tool makes its test fail, never skip.
#
#   interop_python  Debian's python3-grpcio (/usr/bin/python3), from the protoset
#   interop_node    @grpc/grpc-js + @grpc/proto-loader (package-lock.json), from the .proto files
#   fixture_npm     npm ci of those packages into <build>/interop-node (not the source tree)

set(INTEROP_DIR ${CMAKE_CURRENT_LIST_DIR})
set(INTEROP_NODE_DIR ${CMAKE_BINARY_DIR}/interop-node)

function(coalition_interop_missing name what)
  add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} "-DMSG=${what} not found: ${name} cannot run"
                                -P ${INTEROP_DIR}/fail.cmake)
endfunction()

# --- python ---
if(PYTHON3)
  # -B: importing coalition_client must not write __pycache__ into the source tree.
  add_test(NAME interop_python
           COMMAND $<TARGET_FILE:test-stack> interop_python -- ${PYTHON3} -B
                   ${INTEROP_DIR}/interop_python.py)
  set_tests_properties(interop_python PROPERTIES FIXTURES_REQUIRED "pki;pg"
                                                 ENVIRONMENT "${STACK_ENV}" TIMEOUT 120)
  add_test(NAME interop_accounts
           COMMAND $<TARGET_FILE:test-stack> interop_accounts -- ${PYTHON3} -B
                   ${INTEROP_DIR}/interop_accounts.py)
  set_tests_properties(interop_accounts PROPERTIES FIXTURES_REQUIRED "pki;pg"
                                                   ENVIRONMENT "${STACK_ENV}" TIMEOUT 120)
  add_test(NAME interop_programs
           COMMAND $<TARGET_FILE:test-stack> interop_programs -- ${PYTHON3} -B
                   ${INTEROP_DIR}/interop_programs.py)
  set_tests_properties(interop_programs PROPERTIES FIXTURES_REQUIRED "pki;pg"
                                                   ENVIRONMENT "${STACK_ENV}" TIMEOUT 120)
else()
  coalition_interop_missing(interop_python "/usr/bin/python3")
  coalition_interop_missing(interop_accounts "/usr/bin/python3")
  coalition_interop_missing(interop_programs "/usr/bin/python3")
endif()

# --- node ---
find_program(NPM npm)
add_test(NAME fixture_npm
         COMMAND ${CMAKE_COMMAND} -DSRC=${INTEROP_DIR} -DDST=${INTEROP_NODE_DIR} -DNPM=${NPM}
                 -P ${INTEROP_DIR}/npm_ci.cmake)
set_tests_properties(fixture_npm PROPERTIES FIXTURES_SETUP npm TIMEOUT 300)

if(NODE)
  add_test(NAME interop_node
           COMMAND $<TARGET_FILE:test-stack> interop_node -- ${NODE}
                   ${INTEROP_DIR}/interop_node.js)
  set_tests_properties(interop_node PROPERTIES
    FIXTURES_REQUIRED "pki;pg;npm"
    ENVIRONMENT "${STACK_ENV};NODE_PATH=${INTEROP_NODE_DIR}/node_modules;COALITION_TEST_PROTO_DIR=${PROJECT_SOURCE_DIR}/proto"
    TIMEOUT 120)
else()
  coalition_interop_missing(interop_node "node")
endif()
