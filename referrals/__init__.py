"""Nomination routes, the nomination journey, triage, matching and eligibility."""
