"""Every model, imported in one place so that Alembic and the tests see the whole schema."""

from portal.auth.models import ServerSession
from portal.db import Base
from portal.organisations.models import Organisation, User, UserRole

__all__ = ["Base", "Organisation", "ServerSession", "User", "UserRole"]
