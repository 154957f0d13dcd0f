# SPDX-License-Identifier: Apache-2.0
# The unit test programs of common/: one cmocka binary per module, no network, no database.
coalition_unit(test_arena)
coalition_unit(test_config)
coalition_unit(test_err)
coalition_unit(test_int64)
coalition_unit(test_tls)
coalition_unit(test_migrate)
coalition_unit(test_api)
coalition_unit(test_pb)
coalition_unit(test_currency)
coalition_unit(test_metrics)
coalition_unit(test_idem)
