"""Metadata database: engine, sessions, ORM base and Alembic migrations."""
