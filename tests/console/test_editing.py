"""The editor's form both ways: a version's content as controls and back, unchanged; errors
and problems pointing at the control they are about."""

from __future__ import annotations

from starlette.datastructures import FormData

from herald.console import editing

CONTENT = {
    "channels": {
        "email": {"subject": "Hi {{ name }}", "html": '{% extends "brand" %}\n{% block content %}x{% endblock %}'},
        "push": {"title": "T", "body": "B", "data": {"url": "/o/{{ id }}"}},
    },
    "locales": {"fr": {"email": {"subject": "Salut", "text": "x"}}},
    "sample_data": {"name": "Ada"},
}


def test_a_version_goes_through_the_form_and_back_unchanged() -> None:
    form = editing.from_version("About", "en", CONTENT)
    assert form.layout == "brand" and form.locales == ["fr"]
    assert form.values["email__html"] == "{% block content %}x{% endblock %}"  # the layout is the choice
    posted = FormData(
        [("description", form.description), ("default_locale", "en"), ("layout", form.layout),
         ("sample_data", form.sample_data), ("locale", "fr"), *form.values.items()]
    )  # fmt: skip
    body, errors = editing.to_template(editing.read(posted))
    assert errors == {} and body is not None
    assert body.channels == CONTENT["channels"] and body.locales == CONTENT["locales"]
    assert body.sample_data == {"name": "Ada"} and body.description == "About"


def test_errors_and_problems_name_their_control() -> None:
    assert editing.id_of("channels.email.subject") == "email__subject"
    assert editing.id_of("locales.pt-BR.sms.text") == "sms__text__pt-BR"
    assert editing.id_of("sms.text", "fr") == "sms__text__fr"
    assert editing.id_of("push") == "push__title"  # a whole message's problem: its first control
    assert editing.id_of("sample_data") == "sample_data" and editing.id_of(None) == "form"


def test_bad_input_is_an_error_by_control_not_an_exception() -> None:
    posted = FormData([("push__data", '["not", "an object"]'), ("push__title", "T"), ("push__body", "B"),
                       ("add_locale", "../etc"), ("sample_data", "{")])  # fmt: skip
    body, errors = editing.to_template(editing.read(posted))
    assert body is None
    assert set(errors) == {"push__data", "add_locale", "sample_data"}
