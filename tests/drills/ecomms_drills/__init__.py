"""Fault drills: the end-to-end stack (ecomms_e2e) with faults injected from outside it."""
