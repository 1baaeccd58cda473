"""What every CLI command shares: settings, logging, and a database session."""

from __future__ import annotations

import logging

from herald.config import Settings
from herald.migrations import upgrade


def settings() -> Settings:
    s = Settings()
    logging.basicConfig(level=s.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return s


def migrate_db(s: Settings) -> None:
    upgrade(s.effective_database_url())
