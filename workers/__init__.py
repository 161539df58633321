"""Queue consumers, RQ job functions and the scheduler entry point."""
