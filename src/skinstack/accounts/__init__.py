"""Accounts: users, passwords, tokens, roles, influencer and merchant profiles, integrations."""
