"""Sign-in with OpenID Connect, server-side sessions, route access declarations, the development IdP."""
