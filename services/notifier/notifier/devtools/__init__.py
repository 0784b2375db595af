"""Local stand-ins for the outside world (``make up`` and the tests): an SMS server speaking
Africa's Talking's HTTP API, and an SMTP server that keeps what it receives."""
