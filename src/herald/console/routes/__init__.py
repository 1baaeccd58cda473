"""Every console page module, in one list: adding a page is adding its module here."""

from __future__ import annotations

from herald.console.pages import Page
from herald.console.routes import (
    activity,
    analytics,
    auth,
    dead_letters,
    home,
    integrations,
    layouts,
    members,
    queues,
    secrets,
    template_editor,
    template_history,
    template_testsend,
    templates,
    users,
    webhooks,
)

PAGES: list[Page] = [auth.page, home.page, integrations.page, webhooks.page, secrets.page, members.page]
# Templates: one module per page (list, editor, history, test send, layouts).
PAGES += [templates.page, template_editor.page, template_history.page, template_testsend.page, layouts.page]
PAGES += [activity.page, dead_letters.page, users.page]
PAGES += [queues.page, analytics.page]
