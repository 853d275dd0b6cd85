"""Alembic migrations of the TeamCRM schema (a package so installs ship them)."""
