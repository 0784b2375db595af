"""Plumbing shared by the ecomms services; no domain models, payloads or business rules."""
