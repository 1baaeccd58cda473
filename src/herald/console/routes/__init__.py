"""Every console page module, in one list: adding a page is adding its module here."""

from __future__ import annotations

from herald.console.pages import Page
from herald.console.routes import activity, auth, dead_letters, home, integrations, members, secrets, users, webhooks

PAGES: list[Page] = [auth.page, home.page, integrations.page, webhooks.page, secrets.page, members.page]
PAGES += [activity.page, dead_letters.page, users.page]
