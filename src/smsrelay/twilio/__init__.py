"""The one adapter to Twilio: the official SDK, wrapped for smsrelay's needs."""
