"""The gateway's own HTTP operations (login page, tokens, logout, metadata, keys), one view each."""
