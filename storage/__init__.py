"""Persistence of the domain with SQLAlchemy: SQLite by default, PostgreSQL in production."""
