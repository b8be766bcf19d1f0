"""Tenants, users, API keys, roles, tokens and quotas."""
