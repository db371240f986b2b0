"""HTTP: the public API, Twilio's webhooks, and (later) admin, dashboard and metrics."""
