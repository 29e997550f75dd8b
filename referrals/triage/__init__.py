"""Triage of nominations by the council's coordinators: the queue, matching, decisions, attaching families."""
