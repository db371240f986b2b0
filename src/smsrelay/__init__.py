"""smsrelay: multi-tenant SMS on Twilio with incident response built in."""
