"""Money out: payout batches, the providers that send them (Stripe Connect, PayPal Payouts, ACH
files), the statements and the tax report."""
