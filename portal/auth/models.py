"""Server-side session rows.

The browser holds only a random token; the row is keyed by its SHA-256 so that a copy of the database
does not hand anyone a live session. Deleting the row is what signing out means.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime


class ServerSession(Base):
    __tablename__ = "server_session"

    #: SHA-256 (hex) of the cookie token; the token itself is never stored
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: the absolute end of this session, whatever the activity
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
