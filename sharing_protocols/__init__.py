"""The register of sharing protocols and the pure policy that decides each request."""
