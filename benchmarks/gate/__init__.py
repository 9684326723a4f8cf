"""The paired regression gate: base and head installed side by side, measured A B A B.

``python -m benchmarks.gate --base main --head HEAD`` (see benchmarks/README.md). Modules:
``cases`` (what is measured), ``worker`` (one fresh measuring process), ``envs`` (a
worktree and a virtual environment per commit), ``stats`` (paired ratios, interval,
verdict), ``report`` (markdown), ``runner`` (the interleaved loop and the command line).
"""
