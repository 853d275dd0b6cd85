"""The botbuilder CloudAdapter, minus the per-turn waste measured in the stock SDK.

Stock 4.17.1 builds a new ConnectorClient (and an msrest retry policy whose constructor is
surprisingly costly), new credentials and a new user-token client on every turn and every
proactive send. Here the connector clients and credentials are built once per (app id, service
URL, audience) and reused; the user-token client is only built if a turn actually asks for it;
replies, sends and updates take the aiohttp path of ``bot.outbound``.
Authentication itself is the SDK's, unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory,
)
from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ChannelValidation,
    ClaimsIdentity,
    ConnectorFactory,
    ServiceClientCredentialsFactory,
    UserTokenClient,
)

from bot.config import Settings
from bot.outbound import Outbound, speed_up

logger = logging.getLogger(__name__)


class CachingCredentialsFactory(ServiceClientCredentialsFactory):
    """Reuses one credentials object (and so one MSAL token cache) per app id and scope."""

    def __init__(self, inner: ServiceClientCredentialsFactory) -> None:
        self._inner = inner
        self._cache: dict[tuple[str, str, str, bool], Any] = {}

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(await self._inner.is_valid_app_id(app_id))

    async def is_authentication_disabled(self) -> bool:
        return bool(await self._inner.is_authentication_disabled())

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Any:
        key = (app_id or "", oauth_scope or "", login_endpoint or "", validate_authority)
        credentials = self._cache.get(key)
        if credentials is None:
            credentials = await self._inner.create_credentials(
                app_id, oauth_scope, login_endpoint, validate_authority
            )
            self._cache[key] = credentials
        return credentials


class CachingConnectorFactory(ConnectorFactory):
    """Hands out one ConnectorClient per (service URL, audience) for a given app id."""

    def __init__(
        self, inner: ConnectorFactory, cache: dict[tuple[str, str], Any], outbound: Outbound
    ) -> None:
        self._inner = inner
        self._cache = cache
        self._outbound = outbound

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        key = (service_url or "", audience or "")
        client = self._cache.get(key)
        if client is None:
            client = speed_up(await self._inner.create(service_url, audience), self._outbound)
            self._cache[key] = client
        return client


class _LazyUserTokenClient(UserTokenClient):
    """Builds the real user-token client the first time a turn needs one (sign-in flows)."""

    def __init__(self, auth: BotFrameworkAuthentication, claims: ClaimsIdentity) -> None:
        self._auth = auth
        self._claims = claims
        self._real: UserTokenClient | None = None

    async def _client(self) -> UserTokenClient:
        if self._real is None:
            self._real = await self._auth.create_user_token_client(self._claims)
        return self._real

    async def get_user_token(self, *args: Any, **kwargs: Any) -> Any:
        return await (await self._client()).get_user_token(*args, **kwargs)

    async def get_sign_in_resource(self, *args: Any, **kwargs: Any) -> Any:
        return await (await self._client()).get_sign_in_resource(*args, **kwargs)

    async def sign_out_user(self, *args: Any, **kwargs: Any) -> Any:
        return await (await self._client()).sign_out_user(*args, **kwargs)

    async def get_token_status(self, *args: Any, **kwargs: Any) -> Any:
        return await (await self._client()).get_token_status(*args, **kwargs)

    async def get_aad_tokens(self, *args: Any, **kwargs: Any) -> Any:
        return await (await self._client()).get_aad_tokens(*args, **kwargs)

    async def exchange_token(self, *args: Any, **kwargs: Any) -> Any:
        return await (await self._client()).exchange_token(*args, **kwargs)


class CachingBotFrameworkAuthentication(BotFrameworkAuthentication):
    """The SDK's configuration-based authentication with reusable outbound clients."""

    def __init__(self, inner: BotFrameworkAuthentication, outbound: Outbound) -> None:
        self._inner = inner
        self._outbound = outbound
        self._connectors: dict[str, dict[tuple[str, str], Any]] = {}

    def _wrap(self, factory: ConnectorFactory, claims: ClaimsIdentity) -> ConnectorFactory:
        app_id = claims.get_claim_value("aud") or claims.get_claim_value("appid") or ""
        cache = self._connectors.setdefault(app_id, {})
        return CachingConnectorFactory(factory, cache, self._outbound)

    async def authenticate_request(
        self, activity: Activity, auth_header: str
    ) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        if result.connector_factory is not None:
            result.connector_factory = self._wrap(result.connector_factory, result.claims_identity)
        return result

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._wrap(self._inner.create_connector_factory(claims_identity), claims_identity)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        return _LazyUserTokenClient(self._inner, claims_identity)

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return str(self._inner.get_originating_audience())

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)


def build_adapter(
    settings: Settings,
    credentials_factory: ServiceClientCredentialsFactory | None = None,
    outbound: Outbound | None = None,
) -> CloudAdapter:
    """The CloudAdapter of the service; tests may pass a credentials factory of their own.
    Replies and proactive sends go out through ``outbound`` (the caller closes it)."""
    if settings.openid_metadata_url:
        # The public-cloud path the CloudAdapter takes reads this class attribute (the SDK's
        # TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL key switches to a different, parameterized
        # path), so tests point it at their own issuer and restore it afterwards.
        ChannelValidation.open_id_metadata_endpoint = settings.openid_metadata_url
    configuration = settings.sdk_configuration()
    factory = CachingCredentialsFactory(
        credentials_factory or ConfigurationServiceClientCredentialFactory(configuration)
    )
    inner = ConfigurationBotFrameworkAuthentication(configuration, credentials_factory=factory)
    return CloudAdapter(CachingBotFrameworkAuthentication(inner, outbound or Outbound()))
