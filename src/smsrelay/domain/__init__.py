"""Pure rules of smsrelay: no clock, no network, no database, no environment."""
