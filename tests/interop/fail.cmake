# SPDX-License-Identifier: Apache-2.0
# Stands in for a test whose tool is missing: prints why and fails (never a silent skip).
#   cmake -DMSG="node not found" -P fail.cmake
message(FATAL_ERROR "${MSG}")
