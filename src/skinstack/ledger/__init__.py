"""The double-entry ledger: balanced, append-only postings; balances are sums of entries."""
