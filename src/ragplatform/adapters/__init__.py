"""Vendor adapters behind the ports in :mod:`ragplatform.ports`."""
