"""Service settings from the environment (Bot Framework samples' names), with a ``.env`` file.

Real environment variables win over the file, so a deployment can override a checked-in
``.env``. Secrets are kept out of ``repr`` so they never reach a log line by accident.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_PORT = 3978
MAX_PROCESSES = 64
MAX_WORKER_THREADS = 64
DEFAULT_DATABASE_URL = "sqlite:///teamcrm.db"
DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"


def worker_threads_for(dialect: str, processes: int = 1) -> int:
    """Threads for turns' database work when TEAMCRM_WORKER_THREADS is not set; 0 runs it on
    the event loop itself.

    A turn is mostly Python under the GIL. pysqlite lets go of the GIL at every step of every
    statement, so a second thread turns each row into a hand-over: measured on SQLite at 16
    clients, 2 threads cost 40 context switches and 50% more CPU per turn than 1, and served a
    third fewer turns. One thread still hands over with the event loop at every step; on the
    loop, SQLite served 20-27% more turns at 16 clients (the loop waits during a statement,
    but so did every other turn, behind the one thread). On PostgreSQL a thread waits for the
    server at every round trip, and a second one runs in that time (20% more turns than 1;
    on the loop, 8-25% fewer); more than 2 only add hand-overs.
    Several processes on one SQLite file meet each other's write lock in SQLite's busy
    handler (up to its timeout): there a turn waits in its thread, not with the whole loop.
    """
    if dialect == "sqlite":
        return 0 if processes == 1 else 1
    return 2


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=value`` lines; ``#`` comments, blank lines and optional quotes, nothing fancier."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in {"'", '"'}:
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() not in {"0", "false", "no", "off"}


def _seconds(value: str | None, default: float) -> float:
    if value is None or not value.strip():
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"expected a number of seconds, not {value!r}") from None
    if not 0 <= seconds <= 3600:
        raise ValueError(f"expected between 0 and 3600 seconds, not {value!r}")
    return seconds


# --- Graph proactive installation (optional) ---------------------------------------------------


def _https_url(name: str, value: str | None, default: str) -> str:
    """The app-only token and Graph calls carry secrets and tokens: https only."""
    url = (value or "").strip().rstrip("/") or default
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{name} must be an https URL, not {url!r}")
    return url


def _catalog_app_id(value: str | None) -> str:
    """A GUID: it goes into Graph URLs and an OData filter, so nothing else is let through."""
    text = (value or "").strip()
    if not text:
        return ""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ValueError(f"TEAMCRM_TEAMS_APP_ID must be a GUID, not {text!r}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    app_id: str = ""
    app_password: str = field(default="", repr=False)
    app_type: str = "MultiTenant"
    app_tenant_id: str = ""
    host: str = "0.0.0.0"  # noqa: S104 - a bot must be reachable by the Bot Connector
    port: int = DEFAULT_PORT
    database_url: str = DEFAULT_DATABASE_URL
    auto_migrate: bool = True
    allowed_tenants: frozenset[str] = frozenset()
    max_body_bytes: int = 256 * 1024
    # Service processes sharing the port: a turn is CPU work under one GIL, so one per core.
    processes: int = 1
    # Threads per process for turns' database work, 0 for none (on the event loop); None
    # picks by database (worker_threads_for).
    worker_threads: int | None = None
    run_dispatcher: bool = True
    notify_window_seconds: float = 30.0
    notify_rate_limits: bool = True
    # How long a worker owns a claimed notification: after a crash, others wait this long.
    notify_lease_seconds: float = 60.0
    # Graph proactive installation: the app's id in the tenant's catalog (empty = feature off),
    # and where Graph and the token authority are (tests point them at loopback).
    teams_app_id: str = ""
    graph_base_url: str = DEFAULT_GRAPH_BASE_URL
    authority_host: str = DEFAULT_AUTHORITY_HOST
    # Tests only, never read from the environment: where the SDK fetches the Bot Framework's
    # OpenID metadata (and so its signing keys). Empty means botbuilder's built-in URL.
    openid_metadata_url: str = ""

    @property
    def anonymous(self) -> bool:
        """No app id: local trials (Agents Playground); every request is accepted."""
        return not self.app_id

    @property
    def graph_install(self) -> bool:
        """Followers who never opened the bot are reached by installing it for them (Graph)."""
        return bool(self.teams_app_id and self.app_id and self.app_password)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, dotenv: Path | None = None
    ) -> Settings:
        env = dict(read_dotenv(dotenv if dotenv is not None else Path.cwd() / ".env"))
        env.update(environ if environ is not None else os.environ)
        port_text = env.get("PORT", "").strip() or str(DEFAULT_PORT)
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"PORT must be a TCP port number, not {port_text!r}")
        processes_text = env.get("TEAMCRM_PROCESSES", "").strip() or "1"
        if processes_text == "auto":
            processes_text = str(os.cpu_count() or 1)
        if not processes_text.isdigit() or not 1 <= int(processes_text) <= MAX_PROCESSES:
            raise ValueError(
                f"TEAMCRM_PROCESSES must be 1 to {MAX_PROCESSES} or auto, not {processes_text!r}"
            )
        threads_text = env.get("TEAMCRM_WORKER_THREADS", "").strip() or "auto"
        if threads_text != "auto" and not (
            threads_text.isdigit() and 0 <= int(threads_text) <= MAX_WORKER_THREADS
        ):
            raise ValueError(
                f"TEAMCRM_WORKER_THREADS must be 0 to {MAX_WORKER_THREADS} or auto, "
                f"not {threads_text!r}"
            )
        tenants = frozenset(
            t.strip() for t in env.get("TEAMCRM_ALLOWED_TENANTS", "").split(",") if t.strip()
        )
        return cls(
            app_id=env.get("MicrosoftAppId", "").strip(),
            app_password=env.get("MicrosoftAppPassword", ""),
            app_type=env.get("MicrosoftAppType", "").strip() or "MultiTenant",
            app_tenant_id=env.get("MicrosoftAppTenantId", "").strip(),
            host=env.get("TEAMCRM_HOST", "").strip() or "0.0.0.0",  # noqa: S104 - see above
            port=int(port_text),
            database_url=env.get("TEAMCRM_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
            auto_migrate=_flag(env.get("TEAMCRM_AUTO_MIGRATE"), default=True),
            allowed_tenants=tenants,
            processes=int(processes_text),
            worker_threads=None if threads_text == "auto" else int(threads_text),
            run_dispatcher=_flag(env.get("TEAMCRM_DISPATCHER"), default=True),
            notify_window_seconds=_seconds(env.get("TEAMCRM_NOTIFY_WINDOW_SECONDS"), 30.0),
            notify_lease_seconds=_seconds(env.get("TEAMCRM_NOTIFY_LEASE_SECONDS"), 60.0),
            teams_app_id=_catalog_app_id(env.get("TEAMCRM_TEAMS_APP_ID")),
            graph_base_url=_https_url(
                "TEAMCRM_GRAPH_BASE_URL", env.get("TEAMCRM_GRAPH_BASE_URL"), DEFAULT_GRAPH_BASE_URL
            ),
            authority_host=_https_url(
                "TEAMCRM_AUTHORITY_HOST", env.get("TEAMCRM_AUTHORITY_HOST"), DEFAULT_AUTHORITY_HOST
            ),
        )

    def sdk_configuration(self) -> _SdkConfiguration:
        """The attribute bag botbuilder's ConfigurationBotFrameworkAuthentication reads."""
        return _SdkConfiguration(
            APP_ID=self.app_id,
            APP_PASSWORD=self.app_password,
            APP_TYPE=self.app_type,
            APP_TENANTID=self.app_tenant_id,
        )


@dataclass(frozen=True, slots=True)
class _SdkConfiguration:
    APP_ID: str
    APP_PASSWORD: str = field(repr=False)
    APP_TYPE: str
    APP_TENANTID: str
