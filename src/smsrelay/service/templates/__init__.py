"""Message templates: an org's named bodies (catalog.py), sending from one (sending.py) and
holding one template's messages as a mitigation (hold.py)."""
