pytest_plugins = ["ecomms_common.testing.pytest_plugin"]
