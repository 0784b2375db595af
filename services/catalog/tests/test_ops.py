from ecomms_common.testing.contract import OpsEndpointsContract


class TestOpsEndpoints(OpsEndpointsContract):
    pass
