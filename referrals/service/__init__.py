"""Nomination services shared by the partner's journey and the council's triage (``states``)."""
