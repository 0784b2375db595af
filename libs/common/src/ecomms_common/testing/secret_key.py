"""Pytest plugin (installed with ecomms-common, entry point ``ecomms_secret_key``): give a test
run a SECRET_KEY of its own.

Outside DEBUG the settings refuse a missing or weak key (``ecomms_common.base_settings``), and
tests run with DEBUG off. pytest-django imports the settings before any conftest.py is read, so
the key is set here, by a plugin loaded earlier: a random one per run, unless the environment
already names one. Processes a test starts inherit it.
"""

import os
import secrets

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args) -> None:
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
