"""One typed settings object for the whole service, read from `HERALD_*` environment variables.

Nested sections use a double underscore: `HERALD_SMTP__HOST`, `HERALD_WORKER__CONCURRENCY`.
Durations are `timedelta` (seconds or ISO 8601), secrets are `SecretStr` so they never print.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from herald.kit.channels import Channel


def _seconds(value: object) -> object:
    """Plain numbers are seconds: HERALD_WORKER__LEASE=60 means a minute."""
    if isinstance(value, str):
        try:
            return timedelta(seconds=float(value))
        except ValueError:
            return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    return value


Duration = Annotated[timedelta, BeforeValidator(_seconds)]
# Production secrets: 32 characters of `secrets.token_urlsafe` carry 192 bits.
MIN_SECRET_KEY = 32


class Mode(StrEnum):
    """Production refuses unsafe defaults; development generates them."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class RateLimit(BaseModel):
    """At most `limit` sends per user per `period` on one channel."""

    limit: int = Field(gt=0)
    period: Duration


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 2 * 1024 * 1024
    # A real client sends a dozen headers and well under a kilobyte of them (Basic credentials
    # included); nginx's default buffers stop at 8 KiB a line, Apache's at 100 fields.
    max_header_count: int = 100
    max_header_bytes: int = 16 * 1024
    max_batch: int = 1000
    workers: int = 1
    # Failed authentications allowed per minute, per app key and per client address, before
    # 429; and how long a key's verified secrets are trusted without reading them again
    # (also how long a disabled app or a rotated-out secret may still be accepted).
    auth_failures_per_key: int = Field(default=10, ge=1)
    auth_failures_per_address: int = Field(default=60, ge=1)
    auth_cache: Duration = timedelta(seconds=5)
    # Where the world reaches this API, e.g. https://herald.example.com: the base of the
    # links Herald puts in messages (open pixel, click-through, unsubscribe) and of the
    # callback URLs providers sign. Unset: the address a request arrived at (development).
    public_url: str | None = None


class MetricsSettings(BaseModel):
    """Where `herald worker`, `relay` and `scheduler` serve Prometheus metrics. The API serves
    its own at /metrics; the other processes have no HTTP server unless given a port here (or
    with --metrics-port), one per process, since each process keeps its own counters."""

    host: str = "127.0.0.1"
    port: int | None = None
    # The bearer token a scraper presents for the API's /metrics (`herald api`, `herald run`);
    # without one the API does not serve /metrics at all.
    token: SecretStr | None = None


class WorkerSettings(BaseModel):
    """How a channel worker takes work: in-flight sends bounded by `concurrency`."""

    concurrency: int = 256
    claim_batch: int = 200
    lease: Duration = timedelta(seconds=60)
    poll_interval: Duration = timedelta(milliseconds=250)
    record_batch: int = 500
    record_interval: Duration = timedelta(milliseconds=5)


class RetrySettings(BaseModel):
    """The retry ladder: attempt n waits base x factor^n (with jitter), bounded by cap."""

    base: Duration = timedelta(seconds=5)
    factor: float = 2.0
    cap: Duration = timedelta(minutes=10)
    max_attempts: int = 50
    max_age: Duration = timedelta(hours=6)


class SmtpSettings(BaseModel):
    """The SMTP relay. The defaults point at the bundled sandbox server."""

    host: str = "127.0.0.1"
    port: int = 2525
    tls: Literal["none", "starttls", "implicit"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    from_address: str = "Herald <noreply@herald.localhost>"
    timeout: float = 10.0
    pool_size: int = 8
    validate_certs: bool = True


class TrackingSettings(BaseModel):
    """Engagement tracking in the email Herald sends (herald/tracking): the open pixel and
    click-through links (each also switchable per template and per link), and the one-click
    unsubscribe link and headers (RFC 8058)."""

    enabled: bool = True
    opens: bool = True
    clicks: bool = True
    unsubscribe: bool = True
    # The API buffers pixel loads and clicks and writes them in batches: at most this many
    # events, at least this often.
    flush_batch: int = Field(default=500, ge=1)
    flush_interval: Duration = timedelta(milliseconds=10)


class DkimKey(BaseModel):
    """One sending domain's DKIM key: its selector, and the private key (PEM) inline or in a file."""

    selector: str = Field(min_length=1, max_length=63)
    private_key: SecretStr | None = None
    private_key_file: Path | None = None

    @model_validator(mode="after")
    def _one_key(self) -> DkimKey:
        if (self.private_key is None) == (self.private_key_file is None):
            raise ValueError("give exactly one of private_key and private_key_file")
        return self

    def pem(self) -> bytes:
        """The private key's PEM, read from the file each time it is asked for (once, at start)."""
        if self.private_key is not None:
            return self.private_key.get_secret_value().encode()
        assert self.private_key_file is not None
        return self.private_key_file.read_bytes()


class SmsRoute(BaseModel):
    """Numbers starting with one of `prefixes` (E.164 country codes, e.g. "+44") prefer `providers`."""

    prefixes: list[str]
    providers: list[str]


class RouteSettings(BaseModel):
    """Deployment-wide provider order per channel, used by apps with no providers of their own."""

    email: list[str] = ["smtp", "sendgrid"]
    sms: list[str] = ["twilio", "vonage"]
    sms_rules: list[SmsRoute] = [SmsRoute(prefixes=["+44"], providers=["vonage"])]
    push: dict[str, list[str]] = {"ios": ["apns"], "android": ["fcm"], "web": ["webpush"]}


class BreakerSettings(BaseModel):
    """Per provider: open after `failure_ratio` of the last `window` calls failed, probe after `cooldown`."""

    window: int = 20
    min_calls: int = 10
    failure_ratio: float = 0.5
    cooldown: Duration = timedelta(seconds=30)


class RedisSettings(BaseModel):
    """Production engines: streams for queues, plus the cache and the rate limiter."""

    prefix: str = "herald"
    stream_maxlen: int = 1_000_000
    block: Duration = timedelta(milliseconds=100)
    cache_ttl: Duration = timedelta(minutes=5)


class MonitorSettings(BaseModel):
    """Monitoring (herald/monitoring): the API's queue gauges, and what workers report."""

    # How often an API process serving /metrics counts the queues for its gauges; 0: never.
    sample_interval: Duration = timedelta(seconds=15)
    # How often each worker process writes its breakers' states and its throughput.
    report_interval: Duration = timedelta(seconds=2)
    # The recent window of a provider's error rate.
    error_window: Duration = timedelta(minutes=5)
    # How long the per-minute throughput and latency history is kept.
    retention: Duration = timedelta(hours=3)


class AnalyticsSettings(BaseModel):
    """The rollups (herald/analytics): how often workers and the scheduler fold the increments
    the hot path staged, and how many staged rows one transaction folds."""

    fold_interval: Duration = timedelta(seconds=1)
    fold_batch: int = Field(default=10_000, ge=1, le=100_000)


class ReconcilerSettings(BaseModel):
    """How long a delivery may sit in `queued` past its due time before it is re-driven."""

    grace: Duration = timedelta(seconds=60)
    interval: Duration = timedelta(seconds=10)


class SandboxSettings(BaseModel):
    """The local provider simulators that `herald run` starts by default."""

    enabled: bool = True
    host: str = "127.0.0.1"
    smtp_port: int = 2525
    http_port: int = 8025


def _hostnames(hosts: list[str]) -> list[str]:
    """Lowercase hostnames or `*.domain` wildcards; a URL or a bare `*` is a mistake to refuse."""
    out = []
    for entry in hosts:
        host = entry.strip().lower().rstrip(".")
        name = host.removeprefix("*.")
        if not name or any(c in name for c in "/:*@[] ") or (host.startswith("*.") and "." not in name):
            raise ValueError(f"{entry!r} is not a hostname or a *.domain wildcard")
        out.append(host)
    return out


Hostnames = Annotated[list[str], AfterValidator(_hostnames)]


class EgressSettings(BaseModel):
    """Where apps can make Herald connect (herald/kit/egress.py), as JSON lists of hostnames
    (no ports): HERALD_EGRESS__PUSH_HOSTS='["fcm.googleapis.com", "*.push.apple.com"]'.
    `*.example.com` covers every name under example.com, not example.com itself."""

    # Hosts an app's own provider account may name in production, besides the provider's
    # own. One named exactly is trusted wherever it resolves (an internal relay); one
    # matched by a wildcard must still resolve to public addresses.
    provider_hosts: Hostnames = []
    # When set, the only push services web push subscriptions may point at, e.g.
    # fcm.googleapis.com, *.push.apple.com, updates.push.services.mozilla.com, *.notify.windows.com.
    push_hosts: Hostnames = []


class WebhookSettings(BaseModel):
    """Status webhooks out (herald/webhooks/): how the dispatcher posts them and gives up."""

    # Run the dispatcher in `herald worker` and `herald run`; off, messages wait in the log.
    enabled: bool = True
    timeout: Duration = timedelta(seconds=10)
    # Posts in flight per process, and per endpoint within them (a slow receiver cannot
    # take every slot).
    concurrency: int = Field(default=64, ge=1)
    per_endpoint: int = Field(default=4, ge=1)
    # The waits after each failed attempt, like Svix's: 8 attempts over about 28 hours.
    schedule: list[Duration] = [
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
    ]
    # An endpoint whose every attempt has failed for this long is disabled.
    disable_after: Duration = timedelta(days=5)
    # How long a claimed message is held before another dispatcher may take it over.
    lease: Duration = timedelta(seconds=60)
    poll_interval: Duration = timedelta(seconds=1)


class ConsoleSettings(BaseModel):
    """The operator console at /console (herald/console/): its sessions and sign-in lockout."""

    # A session unused this long ends; one ends this long after sign-in whatever its use.
    session_idle: Duration = timedelta(minutes=30)
    session_lifetime: Duration = timedelta(hours=12)
    # Failed sign-ins for one email before it is locked for `lockout_duration`, and from one
    # client address (which may be many people behind a NAT, hence the larger count).
    lockout_failures: int = Field(default=5, ge=1)
    lockout_address_failures: int = Field(default=30, ge=1)
    lockout_duration: Duration = timedelta(minutes=15)


class ActivitySettings(BaseModel):
    """The console's Activity views (herald/activity/)."""

    # Rows one CSV export may hold; a longer one continues with `cursor`.
    export_max_rows: int = Field(default=100_000, ge=1, le=10_000_000)


class Settings(BaseSettings):
    """Everything Herald can be told, with safe development defaults."""

    model_config = SettingsConfigDict(env_prefix="HERALD_", env_nested_delimiter="__", extra="ignore")

    mode: Mode = Mode.DEVELOPMENT
    data_dir: Path = Path("var")
    database_url: str = ""
    database_pool_size: int = 10
    redis_url: str | None = None
    secret_key: SecretStr | None = None
    log_level: str = "INFO"

    api: ApiSettings = ApiSettings()
    worker: WorkerSettings = WorkerSettings()
    metrics: MetricsSettings = MetricsSettings()
    retry: RetrySettings = RetrySettings()
    # Per-channel ladders, e.g. HERALD_RETRY_CHANNELS='{"sms": {"max_attempts": 10}}'.
    retry_channels: dict[Channel, RetrySettings] = {}
    smtp: SmtpSettings = SmtpSettings()
    sandbox: SandboxSettings = SandboxSettings()
    redis: RedisSettings = RedisSettings()
    routes: RouteSettings = RouteSettings()
    breaker: BreakerSettings = BreakerSettings()
    # Deployment-wide provider credentials by kind (apns, fcm, webpush, twilio, vonage,
    # sendgrid), e.g. HERALD_PROVIDERS='{"twilio": {"account_sid": "AC...", ...}}'.
    # SMTP is configured by HERALD_SMTP__*.
    providers: dict[str, dict[str, Any]] = {}
    reconciler: ReconcilerSettings = ReconcilerSettings()
    monitor: MonitorSettings = MonitorSettings()
    analytics: AnalyticsSettings = AnalyticsSettings()
    egress: EgressSettings = EgressSettings()
    webhooks: WebhookSettings = WebhookSettings()
    tracking: TrackingSettings = TrackingSettings()
    console: ConsoleSettings = ConsoleSettings()
    activity: ActivitySettings = ActivitySettings()
    # DKIM keys of Herald's own SMTP path, by sending domain (the From address's), e.g.
    # HERALD_DKIM='{"example.com": {"selector": "herald", "private_key_file": "/keys/dkim.pem"}}'.
    dkim: dict[str, DkimKey] = {}

    # The channels `herald run` works; empty: every registered channel.
    channels: list[Channel] = []
    rate_limits: dict[Channel, RateLimit] = {}
    # What a rate-limited delivery does, per category; "*" is the default for all categories.
    rate_limit_policy: dict[str, Literal["defer", "skip"]] = {"*": "defer"}

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.resolve()

    def effective_database_url(self) -> str:
        """The configured URL, or a SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'herald.db'}"

    def effective_secret_key(self) -> SecretStr:
        """The key that encrypts provider credentials at rest.

        Production must be given one; development keeps a generated key under the data directory
        so that a restart can still read what it encrypted.
        """
        if self.secret_key is not None:
            return self.secret_key
        if self.mode is Mode.PRODUCTION:
            raise RuntimeError("HERALD_SECRET_KEY must be set in production mode")
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return SecretStr(path.read_text().strip())

    def production_problems(self) -> list[str]:
        """Why this configuration must not serve production: its development defaults.

        Empty in development mode, where they are what makes `make run` work with nothing set.
        """
        if self.mode is not Mode.PRODUCTION:
            return []
        key = self.secret_key.get_secret_value() if self.secret_key is not None else ""
        generated = self.data_dir / "secret.key"
        problems = []
        if not key:
            problems.append("HERALD_SECRET_KEY is not set")
        elif len(key) < MIN_SECRET_KEY:
            problems.append(f"HERALD_SECRET_KEY is shorter than {MIN_SECRET_KEY} characters")
        elif generated.exists() and generated.read_text().strip() == key:
            problems.append(f"HERALD_SECRET_KEY is the development key generated in {generated}")
        if self.metrics.token is not None and len(self.metrics.token.get_secret_value()) < MIN_SECRET_KEY // 2:
            problems.append(f"HERALD_METRICS__TOKEN is shorter than {MIN_SECRET_KEY // 2} characters")
        if not self.api.public_url:
            # Links in messages (tracking, unsubscribe) would name the listen address.
            problems.append("HERALD_API__PUBLIC_URL is not set (the base of the links in messages)")
        return problems

    def effective_public_url(self) -> str:
        """The base of the links Herald puts in messages: `api.public_url`, else (development)
        the address the API listens on."""
        if self.api.public_url:
            return self.api.public_url.rstrip("/")
        return f"http://{self.api.host}:{self.api.port}"

    def working_channels(self) -> list[Channel]:
        """The channels to work: those configured, else every registered one."""
        return list(self.channels) or Channel.all()

    def retry_for(self, channel: Channel | str) -> RetrySettings:
        """The retry ladder of a channel: its override, else the default."""
        return self.retry_channels.get(Channel(channel), self.retry)

    def policy_for(self, category: str | None) -> Literal["defer", "skip"]:
        """The rate-limit policy of a category, falling back to the default."""
        if category and category in self.rate_limit_policy:
            return self.rate_limit_policy[category]
        return self.rate_limit_policy.get("*", "defer")
