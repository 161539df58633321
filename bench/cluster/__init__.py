"""The multi-host simulation: hosts as network namespaces, Redis with Sentinel, faults mid-spike."""
