"""The baseline's one task: load a delivery, render it, call the provider, persist the status.

Written as a competent Celery shop would: one pooled SQLAlchemy engine and one pooled
`httpx.Client` per worker process (httpx clients may be shared between threads; APNs over
HTTP/2), SMTP connections kept per thread, provider tokens cached until they are due, and
transient provider answers retried with back-off.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from functools import cache
from typing import Any

import httpx
import jwt
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import OperationalError

from bench.baseline_celery.app import (
    attempts,
    celery,
    deliveries,
    devices,
    engine,
    env,
    notifications,
    providers,
    templates,
    users,
)

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_jinja = SandboxedEnvironment(autoescape=False)
_local = threading.local()
_token_lock = threading.Lock()
_tokens: dict[str, tuple[str, float]] = {}

# A delivery joined with its notification, user and device (`_claim`'s read).
Joined = Row[*tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Outcome:
    outcome: str  # delivered | retry | failed
    provider: str
    code: str
    message_id: str | None = None


class Transient(Exception):
    """A provider asked us to come back later."""


@cache
def _http1() -> httpx.Client:
    size = int(env("HTTP_POOL", "64"))
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    return httpx.Client(limits=limits, timeout=10.0)


@cache
def _http2() -> httpx.Client:
    ctx = ssl.create_default_context(cadata=providers()["apns"]["ca_pem"])
    return httpx.Client(http2=True, verify=ctx, timeout=10.0)


@cache
def _template(key: str) -> dict[str, Any]:
    """Templates are read once per process; compiled Jinja templates are cached by Jinja."""
    with engine().connect() as conn:
        content: dict[str, Any] = conn.execute(select(templates.c.content).where(templates.c.key == key)).scalar_one()
    return content


def _render(text: str | None, ctx: dict[str, Any]) -> str | None:
    return None if text is None else _jinja.from_string(text).render(ctx)


def _cached_token(name: str, mint: Any, lifetime: float) -> str:
    now = time.time()
    with _token_lock:
        hit = _tokens.get(name)
        if hit is None or hit[1] <= now:
            hit = (mint(), now + lifetime)
            _tokens[name] = hit
        return hit[0]


def _apns_jwt() -> str:
    c = providers()["apns"]
    claims = {"iss": c["team_id"], "iat": int(time.time())}
    return jwt.encode(claims, c["private_key"], algorithm="ES256", headers={"kid": c["key_id"]})


@cache
def _fcm_account() -> dict[str, str]:
    info = providers()["fcm"]["service_account"]
    account: dict[str, str] = info if isinstance(info, dict) else json.loads(info)
    return account


def _fcm_token() -> str:
    account = _fcm_account()
    now = int(time.time())
    claims = {"iss": account["client_email"], "scope": FCM_SCOPE, "aud": account["token_uri"]}
    assertion = jwt.encode(
        {**claims, "iat": now, "exp": now + 3600},
        account["private_key"],
        algorithm="RS256",
        headers={"kid": account["private_key_id"]},
    )
    answer = _http1().post(account["token_uri"], data={"grant_type": JWT_BEARER, "assertion": assertion})
    answer.raise_for_status()
    token: str = answer.json()["access_token"]
    return token


def _classify(provider: str, status: int, message_id: str | None) -> Outcome:
    if 200 <= status < 300:
        return Outcome("delivered", provider, str(status), message_id)
    if status == 429 or status >= 500:
        return Outcome("retry", provider, str(status))
    return Outcome("failed", provider, str(status))


def send_apns(key: str, token: str, title: str, body: str) -> Outcome:
    c = providers()["apns"]
    headers = {
        "authorization": f"bearer {_cached_token('apns', _apns_jwt, 3000)}",
        "apns-push-type": "alert",
        "apns-topic": c["topic"],
        "apns-id": str(uuid.UUID(hex=key)),
        "apns-collapse-id": key,
        "apns-priority": "10",
        "content-type": "application/json",
    }
    payload = {"aps": {"alert": {"title": title, "body": body}, "sound": "default"}}
    answer = _http2().post(f"{c['base_url'].rstrip('/')}/3/device/{token}", json=payload, headers=headers)
    return _classify("apns", answer.status_code, answer.headers.get("apns-id"))


def send_fcm(key: str, token: str, title: str, body: str) -> Outcome:
    c = providers()["fcm"]
    bearer = _cached_token("fcm", _fcm_token, 3000)
    project = _fcm_account()["project_id"]
    message = {
        "token": token,
        "notification": {"title": title, "body": body},
        "data": {"herald_key": key},
        "android": {"collapse_key": key, "priority": "HIGH"},
    }
    url = f"{c['base_url'].rstrip('/')}/v1/projects/{project}/messages:send"
    answer = _http1().post(url, json={"message": message}, headers={"Authorization": f"Bearer {bearer}"})
    return _classify("fcm", answer.status_code, answer.json().get("name") if answer.is_success else None)


def send_twilio(key: str, to: str, text: str) -> Outcome:
    c = providers()["twilio"]
    url = f"{c['base_url'].rstrip('/')}/2010-04-01/Accounts/{c['account_sid']}/Messages.json"
    form = {"To": to, "From": c["from_number"], "Body": text}
    if c.get("status_callback_url"):
        form["StatusCallback"] = f"{c['status_callback_url']}?herald_key={key}"
    answer = _http1().post(url, data=form, auth=(c["account_sid"], c["auth_token"]))
    return _classify("twilio", answer.status_code, answer.json().get("sid") if answer.is_success else None)


def _smtp() -> smtplib.SMTP:
    client: smtplib.SMTP | None = getattr(_local, "smtp", None)
    if client is None:
        host, port = env("SMTP").rsplit(":", 1)
        client = smtplib.SMTP(host, int(port), timeout=10)
        _local.smtp = client
    return client


def send_smtp(key: str, to: str, subject: str, text: str | None, html: str | None) -> Outcome:
    msg = EmailMessage()
    msg["From"] = "Baseline <noreply@baseline.localhost>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{key}@baseline.localhost>"
    msg.set_content(text or "")
    if html:
        msg.add_alternative(html, subtype="html")
    try:
        _smtp().send_message(msg)
    except smtplib.SMTPResponseException as exc:
        _local.smtp = None
        return Outcome("retry" if 400 <= exc.smtp_code < 500 else "failed", "smtp", str(exc.smtp_code))
    except (smtplib.SMTPException, OSError):
        _local.smtp = None
        return Outcome("retry", "smtp", "connection_lost")
    return Outcome("delivered", "smtp", "250")


def _claim(delivery_id: uuid.UUID) -> Joined | None:
    """Take the delivery (queued -> sending) and read what the send needs, in one transaction.

    The conditional UPDATE is what keeps a redelivered task (acks_late) from sending twice.
    """
    claim = (
        update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.state == "queued")
        .values(state="sending", updated_at=datetime.now(UTC))
        .returning(deliveries.c.id)
    )
    read = (
        select(
            deliveries.c.channel,
            notifications.c.template,
            notifications.c.data,
            users.c.name,
            users.c.email,
            users.c.phone,
            devices.c.platform,
            devices.c.token,
        )
        .join(notifications, notifications.c.id == deliveries.c.notification_id)
        .join(users, users.c.user_id == notifications.c.user_id)
        .outerjoin(devices, devices.c.id == deliveries.c.device_id)
        .where(deliveries.c.id == delivery_id)
    )
    with engine().begin() as conn:
        if conn.execute(claim).first() is None:
            return None
        return conn.execute(read).one()


def _call(key: str, row: Joined) -> Outcome:
    content = _template(row.template)[row.channel]
    ctx = {**(row.data or {}), "user": {"name": row.name, "email": row.email, "phone": row.phone}}
    if row.channel == "email":
        return send_smtp(
            key,
            row.email,
            _render(content["subject"], ctx) or "",
            _render(content.get("text"), ctx),
            _render(content.get("html"), ctx),
        )
    if row.channel == "sms":
        return send_twilio(key, row.phone, _render(content["text"], ctx) or "")
    title, body = _render(content["title"], ctx) or "", _render(content["body"], ctx) or ""
    if row.platform == "ios":
        return send_apns(key, row.token, title, body)
    return send_fcm(key, row.token, title, body)


def _settle(delivery_id: uuid.UUID, result: Outcome, started: datetime, duration_ms: int) -> None:
    now = datetime.now(UTC)
    state = {"delivered": "delivered", "failed": "failed"}.get(result.outcome, "queued")
    with engine().begin() as conn:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(
                state=state,
                attempts=deliveries.c.attempts + 1,
                provider=result.provider,
                provider_message_id=result.message_id,
                reason=None if result.outcome == "delivered" else result.code,
                updated_at=now,
                finished_at=now if state != "queued" else None,
            )
        )
        conn.execute(
            insert(attempts).values(
                delivery_id=delivery_id,
                provider=result.provider,
                outcome=result.outcome,
                code=result.code,
                started_at=started,
                duration_ms=duration_ms,
            )
        )


@celery.task(  # type: ignore[untyped-decorator]  # celery ships no types
    bind=True, max_retries=8, acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, retry_jitter=True
)
def send_delivery(self: Any, delivery_hex: str) -> str:
    """One delivery end to end; a transient failure is retried with exponential back-off."""
    delivery_id = uuid.UUID(hex=delivery_hex)
    row = _claim(delivery_id)
    if row is None:
        return "skipped"  # taken or settled already (a redelivered task), or gone
    started, t0 = datetime.now(UTC), time.perf_counter()
    try:
        result = _call(delivery_hex, row)
    except httpx.HTTPError as exc:
        result = Outcome("retry", row.channel, type(exc).__name__)
    _settle(delivery_id, result, started, int((time.perf_counter() - t0) * 1000))
    if result.outcome == "retry":
        raise self.retry(countdown=min(600, 5 * 2**self.request.retries))
    return result.outcome
