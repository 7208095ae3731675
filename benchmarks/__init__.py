"""tensorc's benchmark harness: the workload suite side by side with what users would pick instead.

Run `python -m benchmarks --target cpu [--quick]`; see benchmarks/README.md.
"""
