"""A Twilio-compatible simulator (Messaging API 2010-04-01) with signed callbacks and fault
scenarios. Only tests, the demo, `smsrelay up` and benchmarks use it; the service never imports it.

    from smsrelay.simulator.app import create_app        # ASGI app
    from smsrelay.simulator.ledger import SimulatorClient  # admin client for tests
    from smsrelay.simulator.cli import sim_app            # `smsrelay sim ...`
"""
