"""Search (hybrid, dense, keyword) over a tenant's collections."""
