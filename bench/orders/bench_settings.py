"""The orders service's settings, plus a DRF hello-world route that exists only in the benchmark."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench_urls"
