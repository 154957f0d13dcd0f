# SPDX-License-Identifier: Apache-2.0
# coalition-bench: throughput, latency percentiles and memory against baselines measured in the
# same run (pgbench, a bare mTLS echo). Included from tests/CMakeLists.txt, after STACK_ENV and
# coalition_harness are defined. The full benchmark is run by hand (see bench/README.md); ctest
# only runs the smoke test.
add_executable(coalition-bench ${CMAKE_CURRENT_LIST_DIR}/bench.c)
target_link_libraries(coalition-bench PRIVATE coalition_harness coalition_common m PkgConfig::CMOCKA
                                              coalition_warnings coalition_sanitize)
add_test(NAME bench_smoke COMMAND coalition-bench --quick)
set_tests_properties(bench_smoke PROPERTIES FIXTURES_REQUIRED "pki;pg" ENVIRONMENT "${STACK_ENV}"
                                            LABELS bench TIMEOUT 180)
