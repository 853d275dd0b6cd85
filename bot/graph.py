"""The bot installs itself for a colleague through Microsoft Graph, so a follower who never opened
TeamCRM can still be notified (needs ``TeamsAppInstallation.ReadWriteSelfForUser.All``, consented).

Synchronous on purpose (msal is): the dispatcher calls it from a worker thread. One msal app per
tenant keeps that tenant's app-only token cached until it expires.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import quote

import msal
import requests

from bot.config import DEFAULT_AUTHORITY_HOST, DEFAULT_GRAPH_BASE_URL, Settings
from domain.installer import InstallOutcome, InstallResult

logger = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
TIMEOUT = 10.0
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
# Statuses Graph answers when trying again soon would change nothing: no consent or permission,
# app blocked for the user, unknown user or catalog app, a request Graph won't take.
REFUSED = frozenset({400, 403, 404})
# Token errors that mean this tenant will not give the app a token (secret wrong or expired, app
# not provisioned in the tenant, scope refused), as opposed to a passing fault.
REFUSED_TOKEN_ERRORS = frozenset(
    {"invalid_client", "unauthorized_client", "invalid_grant", "invalid_scope", "invalid_request"}
)


class _Stop(Exception):
    """Ends an installation early with its result (kept inside this module)."""

    def __init__(self, result: InstallResult) -> None:
        super().__init__(result.detail)
        self.result = result


def _retry_after(response: requests.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if not header:
        return None
    try:
        return max(float(header), 0.0)
    except ValueError:
        return None  # an HTTP date: the dispatcher's own backoff is close enough


def _error_code(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else ""


class GraphInstaller:
    """The ``AppInstaller`` port on Microsoft Graph, with app-only tokens from msal.

    ``session`` is the HTTP client for both msal and Graph; tests pass one that trusts their
    loopback certificate. TLS verification is never turned off here.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        catalog_app_id: str,
        graph_base_url: str = DEFAULT_GRAPH_BASE_URL,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        session: requests.Session | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._catalog_app_id = catalog_app_id
        self._graph = graph_base_url.rstrip("/")
        self._authority_host = authority_host.rstrip("/")
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._timeout = timeout
        self._apps: dict[str, Any] = {}
        self._tenant_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    # --- the port ---------------------------------------------------------------------------

    def install_for(self, tenant_id: str, aad_object_id: str) -> InstallResult:
        try:
            result = self._install(tenant_id, aad_object_id)
        except _Stop as stop:
            result = stop.result
        except requests.RequestException as error:
            result = InstallResult(outcome=InstallOutcome.FAILED, detail=type(error).__name__)
        logger.info(
            "Graph installation for a colleague: %s",
            result.outcome.value,
            extra={"tenant_id": tenant_id, "aad_object_id": aad_object_id, "why": result.detail},
        )
        return result

    def _install(self, tenant_id: str, aad_object_id: str) -> InstallResult:
        if not (self._client_id and self._client_secret and self._catalog_app_id):
            return InstallResult(outcome=InstallOutcome.NOT_PERMITTED, detail="not configured")
        token = self._token(tenant_id)
        user = quote(aad_object_id, safe="")
        response = self._call(
            "POST",
            f"/users/{user}/teamwork/installedApps",
            token,
            json={
                "teamsApp@odata.bind": f"{self._graph}/appCatalogs/teamsApps/"
                f"{quote(self._catalog_app_id, safe='')}"
            },
        )
        status = response.status_code
        if status in {200, 201, 204}:
            outcome = InstallOutcome.INSTALLED
        elif status == 409:
            outcome = InstallOutcome.ALREADY_INSTALLED
        else:
            detail = f"Graph HTTP {status} {_error_code(response)}".strip()
            if status in REFUSED:
                return InstallResult(outcome=InstallOutcome.NOT_PERMITTED, detail=detail)
            return InstallResult(
                outcome=InstallOutcome.FAILED, detail=detail, retry_after=_retry_after(response)
            )
        return InstallResult(outcome=outcome, chat_id=self._chat_id(token, user))

    # --- Graph ------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        token: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> requests.Response:
        return self._session.request(
            method,
            f"{self._graph}{path}",
            json=json,
            params=params,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=self._timeout,
        )

    def _chat_id(self, token: str, user: str) -> str | None:
        """The bot's 1:1 chat with the person, if Graph says: a fallback, so any fault here
        leaves it unknown rather than failing an installation that worked."""
        odata_quoted = self._catalog_app_id.replace("'", "''")
        try:
            listed = self._call(
                "GET",
                f"/users/{user}/teamwork/installedApps",
                token,
                params={
                    "$expand": "teamsApp",
                    "$filter": f"teamsApp/id eq '{odata_quoted}'",
                },
            )
            if listed.status_code != 200:
                return None
            installations = listed.json().get("value") or []
            installation_id = installations[0].get("id") if installations else None
            if not isinstance(installation_id, str):
                return None
            chat = self._call(
                "GET",
                f"/users/{user}/teamwork/installedApps/{quote(installation_id, safe='')}/chat",
                token,
            )
            if chat.status_code != 200:
                return None
            chat_id = chat.json().get("id")
        except (requests.RequestException, ValueError, AttributeError, IndexError):
            return None
        return chat_id if isinstance(chat_id, str) and chat_id else None

    # --- tokens -----------------------------------------------------------------------------

    def _lock_for(self, tenant_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._tenant_locks.setdefault(tenant_id, threading.Lock())

    def _app(self, tenant_id: str) -> Any:
        """One msal app per tenant, built once (building one fetches the tenant's OpenID
        configuration) and kept for its token cache. Called under the tenant's lock."""
        app = self._apps.get(tenant_id)
        if app is None:
            try:
                app = msal.ConfidentialClientApplication(
                    client_id=self._client_id,
                    client_credential=self._client_secret,
                    authority=f"{self._authority_host}/{quote(tenant_id, safe='')}",
                    http_client=self._session,
                    # The host is our own setting: don't ask login.microsoftonline.com to
                    # vouch for it (msal skips that for Microsoft's hosts anyway).
                    instance_discovery=False,
                    timeout=self._timeout,
                )
            except ValueError:  # msal: the authority has no such tenant
                raise _Stop(
                    InstallResult(outcome=InstallOutcome.NOT_PERMITTED, detail="unknown tenant")
                ) from None
            self._apps[tenant_id] = app
        return app

    def _token(self, tenant_id: str) -> str:
        # Under the tenant's lock: installs for several followers start together, and all but
        # the first should find the token the first one fetched (msal's cache).
        with self._lock_for(tenant_id):
            answer = self._app(tenant_id).acquire_token_for_client([GRAPH_SCOPE])
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if isinstance(token, str) and token:
            return token
        error = str(answer.get("error", "")) if isinstance(answer, dict) else ""
        outcome = (
            InstallOutcome.NOT_PERMITTED if error in REFUSED_TOKEN_ERRORS else InstallOutcome.FAILED
        )
        raise _Stop(InstallResult(outcome=outcome, detail=f"token refused: {error or 'no token'}"))


def graph_installer(settings: Settings) -> GraphInstaller | None:
    """The installer, or ``None`` when the feature is off (no catalog app id or credentials)."""
    if not settings.graph_install:
        return None
    return GraphInstaller(
        client_id=settings.app_id,
        client_secret=settings.app_password,
        catalog_app_id=settings.teams_app_id,
        graph_base_url=settings.graph_base_url,
        authority_host=settings.authority_host,
    )
