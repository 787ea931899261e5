"""Benchmarks: scripts run by hand (`python bench/<name>.py`); a package only so module names stay unique."""
