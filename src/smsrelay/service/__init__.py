"""Use cases: what smsrelay does, independent of how it is called (HTTP, CLI, worker)."""
