#!/usr/bin/env python
"""Django's command-line utility; `.venv/bin/mairie` is the same thing."""

from mairie.cli import main

if __name__ == "__main__":
    main()
