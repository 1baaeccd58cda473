"""SMTP submission (RFC 5321) over aiosmtplib: STARTTLS, implicit TLS, AUTH.

Connections are pooled and reused across messages. Herald's key becomes the Message-ID, so
a receiving system (and the sandbox) can tell a resend from a new message.
"""

from __future__ import annotations

import asyncio
import ssl
from email.utils import formatdate, make_msgid, parseaddr

import aiosmtplib

from herald.config import SmtpSettings
from herald.kit.channels import Channel
from herald.kit.egress import EGRESS_DENIED, EgressRefused, Guard
from herald.providers import mime
from herald.providers.dkim import DkimSigner
from herald.providers.messages import EmailMessage, OutboundMessage
from herald.providers.outcome import (
    DeadAddress,
    Delivered,
    Outcome,
    PermanentFailure,
    RetryLater,
    UnknownOutcome,
    truncate,
)

# Reply codes that mean the mailbox itself is dead, not that this message was refused.
_DEAD_CODES = {550, 551, 553}
_DEAD_ENHANCED = ("5.1.1", "5.1.2", "5.1.3", "5.1.10")


def classify_reply(code: int, text: str) -> Outcome:
    """An SMTP refusal as an outcome: 4xx is transient, 5xx permanent, 5.1.x a dead address."""
    detail = truncate(f"{code} {text}")
    enhanced = text.split(" ", 1)[0] if text[:2] in ("4.", "5.") else None
    if 400 <= code < 500:
        return RetryLater(enhanced or str(code), detail)
    if enhanced in _DEAD_ENHANCED or (enhanced is None and code in _DEAD_CODES):
        return DeadAddress(enhanced or str(code), detail)
    return PermanentFailure(enhanced or str(code), detail)


class SmtpAdapter:
    name = "smtp"
    channel = Channel.EMAIL
    collapses_duplicates = False

    def __init__(
        self,
        config: SmtpSettings,
        *,
        ca_pem: str | None = None,
        egress: Guard | None = None,
        dkim: DkimSigner | None = None,
    ) -> None:
        self.config = config
        # Herald's own SMTP path signs with the sending domain's key, when it has one.
        self._dkim = dkim
        self._guard = egress
        self._ca_pem = ca_pem
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(config.pool_size)
        _, addr = parseaddr(config.from_address)
        self._sender = addr
        self._domain = addr.rsplit("@", 1)[-1] if "@" in addr else "herald.localhost"

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.config.tls == "none":
            return None
        ctx = ssl.create_default_context(cadata=self._ca_pem) if self._ca_pem else ssl.create_default_context()
        if not self.config.validate_certs:
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        return ctx

    async def _connect(self) -> aiosmtplib.SMTP:
        c = self.config
        # With a guard, the address is the guard's pick (DNS rebinding cannot move it); the
        # host name still serves for TLS.
        sock = None
        if self._guard is not None:
            async with asyncio.timeout(c.timeout):
                sock = await self._guard.connect(c.host, c.port)
        client = aiosmtplib.SMTP(
            hostname=c.host,
            port=None if sock is not None else c.port,
            sock=sock,
            timeout=c.timeout,
            use_tls=c.tls == "implicit",
            start_tls=c.tls == "starttls",
            tls_context=self._tls_context(),
        )
        await client.connect()
        if c.username and c.password:
            await client.login(c.username, c.password.get_secret_value())
        return client

    def as_bytes(self, m: EmailMessage) -> bytes:
        """The message as bytes; Herald's key is its Message-ID."""
        headers = [
            ("From", self.config.from_address),
            ("To", mime.mailbox(m.to, m.to_name)),
            ("Subject", m.subject),
            ("Date", formatdate(localtime=False)),
            ("Message-ID", f"<{m.key}@{self._domain}>"),
            ("X-Herald-Key", m.key),
        ]
        if m.category:
            headers.append(("X-Herald-Category", m.category))
        headers.extend(m.headers)
        raw = mime.message(headers, m.text, m.html)
        return self._dkim.sign(raw, self._domain) if self._dkim else raw

    async def send(self, message: OutboundMessage) -> Outcome:
        assert isinstance(message, EmailMessage)
        async with self._slots:
            try:
                client = self._idle.get_nowait()
                if not client.is_connected:
                    client = await self._connect()
            except asyncio.QueueEmpty:
                try:
                    client = await self._connect()
                except aiosmtplib.SMTPAuthenticationError as exc:
                    return PermanentFailure(str(exc.code), truncate(exc.message))
                except EgressRefused as exc:
                    return PermanentFailure(EGRESS_DENIED, truncate(str(exc)))
                except (aiosmtplib.SMTPException, OSError) as exc:
                    return RetryLater("connect_error", truncate(str(exc)))
            outcome, reusable = await self._send_on(client, message)
            if reusable:
                self._idle.put_nowait(client)
            else:
                client.close()
            return outcome

    async def _send_on(self, client: aiosmtplib.SMTP, message: EmailMessage) -> tuple[Outcome, bool]:
        try:
            _errors, reply = await client.sendmail(self._sender, [message.to], self.as_bytes(message))
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            return classify_reply(refused.code, refused.message), True
        except aiosmtplib.SMTPResponseException as exc:
            return classify_reply(exc.code, exc.message), False
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            # The message may have been queued before the connection went: unknown.
            return UnknownOutcome("connection_lost", truncate(str(exc))), False
        except aiosmtplib.SMTPException as exc:
            return UnknownOutcome("smtp_error", truncate(str(exc))), False
        queued_as = reply.split("queued as", 1)[-1].strip() if "queued as" in reply else None
        return Delivered(queued_as or make_msgid(), "250", truncate(reply)), True

    async def close(self) -> None:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            client.close()
