"""What messages cost: Twilio's prices (prices.py), usage per org and its reconciliation with
Twilio (usage.py), the spend caps and price ceiling that hold messages (caps.py), and the
pumping signal (pumping.py). Pure rules in domain/spend.py and domain/pumping.py."""
