"""Loaded with ``-p mairie.testing.pytest_env`` before Django settings: tests never touch real data.

Every ``MAIRIE_*`` variable of the caller's environment is dropped (the suite must not depend on a
developer's configuration), and the data directory is a fresh temporary one. ``DATABASE_URL`` is kept:
it selects PostgreSQL for the whole run.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

for _name in [n for n in os.environ if n.startswith("MAIRIE_")]:
    del os.environ[_name]
os.environ["MAIRIE_DATA_DIR"] = tempfile.mkdtemp(prefix="mairie-test-")
# Removed when the run ends (a run killed outright leaves it behind, in the temporary directory).
atexit.register(shutil.rmtree, os.environ["MAIRIE_DATA_DIR"], ignore_errors=True)
# STATIC_ROOT (`mairie serve` fills it with collectstatic): WhiteNoise warns at every start without it, and
# serves the files through the finders anyway (WHITENOISE_USE_FINDERS).
os.mkdir(os.path.join(os.environ["MAIRIE_DATA_DIR"], "static"))
os.environ["MAIRIE_SECRET_KEY"] = "tests-only-not-a-secret"
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
