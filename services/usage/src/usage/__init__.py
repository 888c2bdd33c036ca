"""The usage service: the quota ledger."""
