"""Fraud rules: click flags and scores (pure), and the counters they need."""
