"""plait's benchmarks (never run as tests): ``python -m bench.run``; see ``bench/README.md``."""
