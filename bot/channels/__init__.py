"""Twilio's webhooks, one module per channel (SMS, voice), and the development simulator."""
