"""Mairie: one register for everything that comes in to a town hall."""

__version__ = "0.1.0"
