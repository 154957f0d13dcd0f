# SPDX-License-Identifier: Apache-2.0
# The unit test programs of common/: one cmocka binary per module, no network, no database.
# Tests that show known bugs in common/ are compiled only with -DCO_TEST_KNOWN_BUGS (see the
# #ifdef CO_TEST_KNOWN_BUGS blocks); they are not part of these programs as registered here.
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
