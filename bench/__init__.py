"""The benchmarks of issue 9: ``python -m bench`` (``bin/bench``) measures receiving,
processing, latency, backfill and stock push in one run and writes docs/benchmarks.md."""
