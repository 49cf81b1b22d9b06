"""Benchmarks of issues 2 and 3 (`make bench`, i.e. ``python -m mairie.bench``); results in docs/benchmarks.md.

Each benchmark compares the platform with a reference measured in the same run on the same machine
(raw Tesseract, pdftotext, a raw INSERT loop, a minimal Django view, keyword rules, a raw IMAP fetch),
because absolute times on a shared two-core machine vary by ±40 % from one run to the next while such
ratios hold.

The orchestrator (:mod:`mairie.bench.run`) prepares throw-away databases and data directories and runs
the Django side of each benchmark in a child process (:mod:`mairie.bench.child`) configured, like the
product, only by environment variables.
"""
