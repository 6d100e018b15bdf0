"""Benchmarks of the data path: `python -m bench [--quick]` from the repository root.

Every comparison runs its contenders side by side in one run on the same files and reports ratios,
which hold on a noisy shared machine; absolute figures are printed too. Results go to
bench/results.json.
"""
