"""Organisations, their users and the roles users hold; the identity-provider binding lives in config."""
