"""Benchmarks of the task engine against the loopback fakes; each prints one JSON object.

Run one with `python -m bench.<name>` (slots, detection, startup, download_memory) or all of them
with `python -m bench.run_all`. They measure; they never assert. See bench/README.md.
"""
