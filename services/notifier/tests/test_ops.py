from ecomms_common.testing.contract import BrokerReadinessContract, OpsEndpointsContract


class TestOpsEndpoints(OpsEndpointsContract):
    pass


class TestBrokerReadiness(BrokerReadinessContract):
    pass
