"""Plumbing shared by the ecomms services. No domain models, payloads or business rules live here."""
