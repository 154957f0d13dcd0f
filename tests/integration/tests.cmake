# SPDX-License-Identifier: Apache-2.0
# Integration test programs: each starts the real partners and gateway against a fresh database.
coalition_integration(test_partners_e2e)
coalition_integration(test_gateway_auth)
coalition_integration(test_hostile_input)
coalition_integration(test_health_shutdown)
coalition_integration(test_db_fault)
coalition_integration(test_accounts)
coalition_integration(test_program_config)
coalition_integration(test_points)
coalition_integration(test_points_chaos)
coalition_integration(test_export)
target_link_libraries(test_export PRIVATE PkgConfig::JANSSON)
