"""Backups, restores and tenant moves: one verifiable, backend-neutral archive format."""
