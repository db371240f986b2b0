"""`python -m smsrelay.simulator [--host H] [--port P] | scenario ... | inbound ... | ledger`."""

from .cli import sim_app

if __name__ == "__main__":
    sim_app(prog_name="smsrelay sim")
