"""The catalog's bulk price lookup for the benchmark: the stand-in of libs/standins."""

from ecomms_standins.catalog import sample

app = sample(100)
