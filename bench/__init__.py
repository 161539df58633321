"""The benchmark suite: ``make bench`` (see bench/README.md). Not part of the shop, not run by the tests."""
