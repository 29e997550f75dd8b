"""People, supported families, service relationships and flags; the partner-facing flag pages."""
