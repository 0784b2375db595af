"""``python bench/otlp_sink.py PORT``: the OTLP/HTTP sink of libs/standins."""

import sys

from ecomms_standins.otlp import main

if __name__ == "__main__":
    main(["--port", sys.argv[1]])
