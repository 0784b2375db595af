"""Drive a running ecomms stack as an API client does: the end-to-end tests and ``make demo``."""
