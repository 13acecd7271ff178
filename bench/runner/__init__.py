"""The benchmark runner behind run.py, split by concern: plan, process, report, session."""
