"""Local servers that stand in for the outside world in dev, test, bench and drill runs.

Each speaks the real protocol on 127.0.0.1 and is both importable (tests start one in a thread)
and a console script (``make up``, compose, the e2e stack and the benchmarks run it as a process):

- ``sms``: Africa's Talking's SMS API (``ecomms-sms-standin``);
- ``smtp``: an SMTP server that keeps what it receives (``ecomms-smtp-sink``);
- ``catalog``: the catalog's bulk price lookup (``ecomms-catalog-standin``);
- ``otlp``: an OTLP/HTTP trace receiver (``ecomms-otlp-sink``);
- ``tcpproxy``: a TCP proxy a test can cut and restore (``ecomms-tcpproxy``);
- ``jwks``: a JWKS endpoint and a minter of gateway-shaped tokens (``ecomms-local-jwks``).

No image installs this package (``deploy/tests/test_standins.py`` checks it).
"""
