"""The Templates pages over HTTP: the list, the editor (save draft, preview with its problems,
publish, discard), the history (diff, restore), test send and layouts; roles and isolation."""

from __future__ import annotations

import json
import re

from tests.console.seed import Browse, ConsoleClient, Seeded, signed_in

Form = dict[str, str | list[str]]
SUBJECT, HTML, SMS = "email__subject", "email__html", "sms__text"


def base(seeded: Seeded, app_id: object = None) -> str:
    return f"/console/apps/{app_id or seeded.app_id}/templates"


async def make(c: ConsoleClient, seeded: Seeded, key: str = "welcome") -> None:
    r = await c.post(base(seeded), {"key": key, "description": "The welcome message"})
    assert r.status_code == 303 and r.headers["location"].endswith(f"/templates/{key}/edit"), r.text


def editor_form(**values: str | list[str]) -> Form:
    form: Form = {"default_locale": "en", "description": "Welcome", "layout": ""}
    return form | values


async def save(c: ConsoleClient, seeded: Seeded, form: Form, key: str = "welcome") -> None:
    r = await c.post(f"{base(seeded)}/{key}/edit", form)
    assert r.status_code == 303, r.text


async def test_an_editor_makes_a_template_saves_its_draft_and_publishes_it(browse: Browse, seeded: Seeded) -> None:
    editor = await signed_in(browse, seeded.editor)
    await make(editor, seeded)
    listed = (await editor.get(base(seeded))).text
    assert "welcome" in listed and "not published" in listed and "yes (v1)" in listed

    values = {SUBJECT: "Hello {{ name }}", HTML: "<p>Hi {{ name }}</p>", SMS: "Hi {{ name }}"}
    await save(editor, seeded, editor_form(**values, sample_data=json.dumps({"name": "Ada"}), add_locale="fr"))
    page = (await editor.get(f"{base(seeded)}/welcome/edit")).text
    assert "Hello {{ name }}" in page and 'id="email__subject__fr"' in page and "The draft is saved" in page

    published = await editor.post(f"{base(seeded)}/welcome/publish")
    assert published.status_code == 303 and published.headers["location"].endswith("/welcome/history")
    history = (await editor.get(f"{base(seeded)}/welcome/history")).text
    assert "Version 1 is live" in history and f"console:{seeded.editor}" in history
    listed = (await editor.get(base(seeded))).text
    assert "v1" in listed and "email, sms" in listed and "yes (v" not in listed


async def test_a_bad_form_is_shown_again_with_its_errors_by_field(owner: ConsoleClient, seeded: Seeded) -> None:
    await make(owner, seeded)
    r = await owner.post(f"{base(seeded)}/welcome/edit", editor_form(**{SUBJECT: "Hi", "sample_data": "[1, 2"}))
    assert r.status_code == 422
    assert 'id="sample_data-error"' in r.text and "not valid JSON" in r.text
    r = await owner.post(f"{base(seeded)}/welcome/edit", editor_form(**{SUBJECT: "Hi {% if %}", "email__text": "x"}))
    assert r.status_code == 422 and 'id="email__subject-error"' in r.text
    assert "Hi {% if %}" in r.text  # the form keeps what was typed
    r = await owner.post(f"{base(seeded)}/welcome/edit", editor_form(**{SUBJECT: "Only a subject"}))
    assert r.status_code == 422 and "email content needs html or text" in r.text


async def test_the_preview_renders_the_unsaved_form_and_names_an_undefined_variable(
    owner: ConsoleClient, seeded: Seeded
) -> None:
    await make(owner, seeded)
    form = editor_form(**{SUBJECT: "Order {{ order.id }} for {{ nobody }}", HTML: "<p>{{ order.id }}</p>",
                          SMS: "Ünïcode {{ order.id }}", "sample_data": '{"order": {"id": 42}}'})  # fmt: skip
    r = await owner.http.post(
        f"{base(seeded)}/welcome/preview", data=form, headers={"HX-Request": "true", "X-CSRF-Token": owner.token}
    )
    assert r.status_code == 200 and "<html" not in r.text  # a fragment
    assert "Order 42 for" in r.text
    problem = re.search(r'<li data-kind="undefined_variable">(.*?)</li>', r.text, re.S)
    assert problem is not None and "nobody" in problem.group(1) and 'href="#email__subject"' in problem.group(1)
    assert "UCS-2" in r.text and "1 segment" in r.text
    assert re.search(r'<iframe class="email-html" sandbox srcdoc="&lt;p&gt;42&lt;/p&gt;"', r.text)
    # Nothing was saved: the draft is still the empty one.
    assert "Order {{ order.id }}" not in (await owner.get(f"{base(seeded)}/welcome/edit")).text
    fixed = await owner.post(f"{base(seeded)}/welcome/preview", form | {SUBJECT: "Order {{ order.id }}"})
    assert "No problems found" in fixed.text


async def test_history_diffs_and_restores_a_version(owner: ConsoleClient, seeded: Seeded) -> None:
    await make(owner, seeded)
    await save(owner, seeded, editor_form(**{SUBJECT: "First", "email__text": "one"}))
    assert (await owner.post(f"{base(seeded)}/welcome/publish")).status_code == 303
    await save(owner, seeded, editor_form(**{SUBJECT: "Second", "email__text": "one"}))
    assert (await owner.post(f"{base(seeded)}/welcome/publish")).status_code == 303
    chosen = await owner.get(f"{base(seeded)}/welcome/diff?a=1&b=2")
    assert chosen.status_code == 303 and chosen.headers["location"].endswith("/welcome/diff/1/2")
    diff = (await owner.get(f"{base(seeded)}/welcome/diff/1/2")).text
    assert "channels.email.subject" in diff
    assert re.search(r'class="removed"><span class="marker" aria-hidden="true">-</span>.*?First', diff)
    assert re.search(r'class="added"><span class="marker" aria-hidden="true">\+</span>.*?Second', diff)
    v1 = (await owner.get(f"{base(seeded)}/welcome/versions/1")).text
    assert "First" in v1 and "Second" not in v1
    restored = await owner.post(f"{base(seeded)}/welcome/versions/1/restore")
    assert restored.status_code == 303
    page = (await owner.get(f"{base(seeded)}/welcome/edit")).text
    assert 'value="First"' in page and "Version 1 is restored" in page
    assert (await owner.post(f"{base(seeded)}/welcome/discard")).status_code == 303
    assert 'value="Second"' in (await owner.get(f"{base(seeded)}/welcome/edit")).text


async def test_a_test_send_links_to_its_notification(owner: ConsoleClient, seeded: Seeded) -> None:
    await make(owner, seeded)
    await save(owner, seeded, editor_form(**{SUBJECT: "Test {{ name }}", "email__text": "hi"}))
    page = f"{base(seeded)}/welcome/test"
    assert (await owner.get(page)).status_code == 200
    # Sent with the sample data: without it, the send's own rules refuse a missing variable.
    missing = await owner.post(page, {"channel": "email", "version": "draft", "to": "ada@example.com"})
    assert missing.status_code == 422 and "is undefined" in missing.text
    await save(
        owner, seeded, editor_form(**{SUBJECT: "Test {{ name }}", "email__text": "hi", "sample_data": '{"name": "A"}'})
    )
    r = await owner.post(page, {"channel": "email", "version": "draft", "to": "ada@example.com"})
    assert r.status_code == 200, r.text
    found = re.search(rf"/console/apps/{seeded.app_id}/activity/([0-9a-f-]{{36}})", r.text)
    assert found is not None
    wrong = await owner.post(page, {"channel": "push", "version": "draft", "to": "ada@example.com"})
    assert wrong.status_code == 422 and "needs its `platform`" in wrong.text and "/activity/" not in wrong.text
    wrong = await owner.post(page, {"channel": "push", "version": "draft", "to": "ada@example.com", "platform": "ios"})
    assert wrong.status_code == 422 and "APNs device token is hex" in wrong.text and "/activity/" not in wrong.text


async def test_layouts_are_made_published_and_chosen_in_the_editor(owner: ConsoleClient, seeded: Seeded) -> None:
    layouts = f"/console/apps/{seeded.app_id}/layouts"
    html = "<main>{% block content %}{% endblock %}</main>"
    r = await owner.post(layouts, {"key": "brand", "description": "Ours", "html": html})
    assert r.status_code == 303
    bad = await owner.post(f"{layouts}/brand", {"html": "{% block %}"})
    assert bad.status_code == 422 and 'id="html-error"' in bad.text
    assert (await owner.post(f"{layouts}/brand/publish")).status_code == 303
    assert "v1" in (await owner.get(layouts)).text

    await make(owner, seeded)
    form = editor_form(**{SUBJECT: "Hi", HTML: "{% block content %}<p>Body</p>{% endblock %}", "layout": "brand"})
    await save(owner, seeded, form)
    page = (await owner.get(f"{base(seeded)}/welcome/edit")).text
    assert '<option value="brand" selected>' in page and "extends" not in page.split('id="email__html"')[1][:200]
    preview = await owner.post(f"{base(seeded)}/welcome/preview", form)
    assert "&lt;main&gt;&lt;p&gt;Body&lt;/p&gt;&lt;/main&gt;" in preview.text
    assert (await owner.post(f"{base(seeded)}/welcome/publish")).status_code == 303


async def test_an_email_in_mjml_on_an_mjml_layout_previews_compiled(owner: ConsoleClient, seeded: Seeded) -> None:
    layouts = f"/console/apps/{seeded.app_id}/layouts"
    block = "{% block content %}{% endblock %}"
    frame = f"<mjml><mj-body><mj-section><mj-column>{block}</mj-column></mj-section></mj-body></mjml>"
    bad = await owner.post(layouts, {"key": "frame", "format": "mjml", "html": "<mjml><mj-body></mjml>"})
    assert bad.status_code == 422 and 'id="html-error"' in bad.text and "invalid MJML" in bad.text
    assert (await owner.post(layouts, {"key": "frame", "format": "mjml", "html": frame})).status_code == 303
    assert '<option value="mjml" selected>' in (await owner.get(f"{layouts}/frame")).text
    assert (await owner.post(f"{layouts}/frame/publish")).status_code == 303

    await make(owner, seeded)
    body = "{% block content %}<mj-text>Hi {{ name }}</mj-text>{% endblock %}"
    form = editor_form(**{SUBJECT: "Hi", "email__mjml": body, "layout": "frame", "sample_data": '{"name": "Ada"}'})
    preview = (await owner.post(f"{base(seeded)}/welcome/preview", form)).text
    assert "No problems found" in preview and "mj-column-per-100" in preview and "&gt;Hi Ada&lt;/div&gt;" in preview
    broken = form | {"email__mjml": "<mj-text>Hi</mj-txt>{% block content %}{% endblock %}", "layout": ""}
    assert 'data-kind="invalid_mjml"' in (await owner.post(f"{base(seeded)}/welcome/preview", broken)).text
    await save(owner, seeded, form)
    page = (await owner.get(f"{base(seeded)}/welcome/edit")).text
    assert '<option value="frame" selected>' in page and "extends" not in page.split('id="email__mjml"')[1][:200]


async def test_a_viewer_reads_but_cannot_change_templates(browse: Browse, seeded: Seeded, owner: ConsoleClient) -> None:
    await make(owner, seeded)
    await save(owner, seeded, editor_form(**{SUBJECT: "Hi", "email__text": "x"}))
    viewer = await signed_in(browse, seeded.viewer)
    page = await viewer.get(f"{base(seeded)}/welcome/edit")
    assert page.status_code == 200 and "Read-only for you" in page.text and "Save draft" not in page.text
    assert "readonly" in page.text and "Test send" not in page.text
    assert (await viewer.post(f"{base(seeded)}/welcome/preview", editor_form(**{SUBJECT: "Hi"}))).status_code == 200
    changes: list[tuple[str, Form]] = [
        ("", {"key": "mine"}),
        ("/welcome/edit", editor_form(**{SUBJECT: "Changed", "email__text": "x"})),
        ("/welcome/publish", {}),
        ("/welcome/discard", {}),
        ("/welcome/versions/1/restore", {}),
        ("/welcome/test", {"channel": "email", "to": "a@example.com"}),
    ]
    for path, data in changes:
        r = await viewer.post(base(seeded) + path, data)
        assert r.status_code == 403, path
    assert (await viewer.post(f"/console/apps/{seeded.app_id}/layouts", {"key": "x", "html": "x"})).status_code == 403
    assert 'value="Hi"' in (await owner.get(f"{base(seeded)}/welcome/edit")).text


async def test_another_apps_template_is_a_404(browse: Browse, seeded: Seeded, owner: ConsoleClient) -> None:
    await make(owner, seeded)
    outsider = await signed_in(browse, seeded.outsider)
    for path in ("/welcome/edit", "/welcome/history", "/welcome/versions/1"):
        assert (await outsider.get(base(seeded) + path)).status_code == 404
        # In their own app, the key does not exist: a 404 too, and nothing of alpha's shows.
        r = await outsider.get(base(seeded, seeded.other_app_id) + path)
        assert r.status_code == 404 and "The welcome message" not in r.text
    assert (await outsider.post(f"{base(seeded, seeded.other_app_id)}/welcome/publish")).status_code == 404
    listed = (await outsider.get(base(seeded, seeded.other_app_id))).text
    assert "welcome" not in listed
