"""Fair processing notice versions, notices given to families, objections and overrides."""
