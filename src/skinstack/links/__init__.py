"""Tracking links: creation, slugs, destinations per network, QR codes."""
