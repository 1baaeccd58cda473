"""Opt-outs per user by channel, by category, and by channel x category.

"*" stands for "any" so that every rule has a primary key; the most specific rule wins.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.db import Base

ANY = "*"


class Preference(Base):
    __tablename__ = "preferences"
    __table_args__ = (
        ForeignKeyConstraint(["app_id", "user_id"], ["users.app_id", "users.user_id"], ondelete="CASCADE"),
    )

    app_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    category: Mapped[str] = mapped_column(String(100), primary_key=True)
    enabled: Mapped[bool] = mapped_column()
