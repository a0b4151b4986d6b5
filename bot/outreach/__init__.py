"""Waves and invitations: who is asked, when, and at what rate."""
