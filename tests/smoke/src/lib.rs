//! Smoke tests of the local test cluster (tests/cluster/up): see `tests/*.rs`.
