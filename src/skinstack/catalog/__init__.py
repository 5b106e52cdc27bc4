"""Catalog: networks, programs, products (with bulk import and search), campaigns."""
