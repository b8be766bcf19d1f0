"""Durable background jobs: rows in the metadata database, run by workers."""
