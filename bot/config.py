"""Service settings from the environment (Bot Framework samples' names), with a ``.env`` file.

Real environment variables win over the file, so a deployment can override a checked-in
``.env``. Secrets are kept out of ``repr`` so they never reach a log line by accident.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 3978
DEFAULT_DATABASE_URL = "sqlite:///teamcrm.db"


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
    run_dispatcher: bool = True
    notify_window_seconds: float = 30.0
    notify_rate_limits: bool = True
    # Tests only, never read from the environment: where the SDK fetches the Bot Framework's
    # OpenID metadata (and so its signing keys). Empty means botbuilder's built-in URL.
    openid_metadata_url: str = ""

    @property
    def anonymous(self) -> bool:
        """No app id: local trials (Agents Playground); every request is accepted."""
        return not self.app_id

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, dotenv: Path | None = None
    ) -> Settings:
        env = dict(read_dotenv(dotenv if dotenv is not None else Path.cwd() / ".env"))
        env.update(environ if environ is not None else os.environ)
        port_text = env.get("PORT", "").strip() or str(DEFAULT_PORT)
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"PORT must be a TCP port number, not {port_text!r}")
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
            run_dispatcher=_flag(env.get("TEAMCRM_DISPATCHER"), default=True),
            notify_window_seconds=_seconds(env.get("TEAMCRM_NOTIFY_WINDOW_SECONDS"), 30.0),
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
