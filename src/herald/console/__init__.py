"""The operator and product console at /console: server-rendered pages (Jinja2 in `views/`,
htmx and the other front-end files vendored in `static/`, no build step).

Who: console users (`models.ConsoleUser`, argon2id hashes) are members of apps with a role
(`schemas.Role`: owner > editor > viewer). A user sees only the apps they are a member of;
another app's pages answer 404. Sessions are server-side (only a hash of the cookie's token
is stored) and end when idle, at their lifetime, on sign-out and on a password change.

Every request to the console passes `security.csrf_guard` (a dependency of the whole console
app): a POST, PUT, PATCH or DELETE without this session's CSRF token, or from another
origin, is 403. Every response gets `security.SecurityHeaders` (a CSP with no inline script).

Adding a page is one module and one line:

1. Write `routes/<page>.py` with an `APIRouter` and its routes. Take the app and the role
   needed from a dependency of `pages`: `ViewerDep`, `EditorDep` or `OwnerDep` (the path
   must have `{app_id}`), or `UserDep` for a page outside any app. Get data from the
   domain's service (the one the API uses), inside `kit.uow.unit_of_work`; never write SQL
   in a page. Answer with `pages.render(request, "<page>.html", {...})`, or after a change
   with `pages.redirect(request, "/apps/{id}/...", flash="...")`. Read a form with
   `pages.read_form(request, Model)`. End with
   `page = Page(router, nav=NavItem("Templates", "templates"))` (nav: optional; a label of
   `pages.MAIN_NAV` replaces its "soon" placeholder).
2. Add the module's `page` to `routes.PAGES`.
3. Write `views/<page>.html`: `{% extends layout %}` and a `content` block (the same template
   then serves htmx fragments), and the form macros of `views/macros/forms.html` (labels,
   hints and errors tied to each control) with `{{ forms.csrf() }}` in every form.
4. `tests/console/test_csrf.py` and the browser tour then cover the new POST routes and
   pages: add the page to the tour in `tests/browser/test_console.py`.
"""
