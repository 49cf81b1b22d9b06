"""The product's settings, plus a benchmark-only URL (the minimal view of B5) and a fast password hasher.

The hasher only makes setting up test users quick; no measured path hashes a password.
"""

from mairie.settings import *  # noqa: F403

ROOT_URLCONF = "mairie.bench.urls"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
