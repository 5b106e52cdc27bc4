"""Attribution: which influencers an order's credit goes to, and in what shares (pure models)."""
