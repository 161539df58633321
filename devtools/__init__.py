"""Tools for running the shop locally and in tests (not imported by the shop itself)."""
