"""Compliance: the audit trail (consent, export, erasure and retention come later)."""
