"""Local fake HTTP servers of the payment providers, started by the tests themselves."""
