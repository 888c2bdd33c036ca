"""Bearer JWTs as Supabase issues them: HS256 with a shared secret, or RS256/ES256 keys from a JWKS URL."""

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import jwt

from aistudio_runtime import get_logger

from .settings import GatewaySettings

_ASYMMETRIC = ("RS256", "ES256")
# A token naming a key we do not know makes us look again, but at most this often: otherwise anyone can
# make every request cost a JWKS fetch.
UNKNOWN_KID_REFETCH_SECONDS = 60.0

EXPIRED_RETRY_SECONDS = 5.0

log = get_logger(__name__)


class Unauthorized(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified token's user, kept for the rest of the request so that nothing reads the token again."""

    user_id: str
    role: str | None = None
    # Supabase's anonymous sign-ins carry `is_anonymous: true`; such a guest may look but not generate.
    is_anonymous: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class JwksCache:
    """The JWKS's keys by `kid`, trusted for `ttl` seconds, fetched by one request at a time.

    Expiry makes a key removed from the JWKS stop working; an unknown `kid` refetches at most once a
    `refetch_interval`. A failed fetch keeps the keys we had (an outage of the issuer is not a reason to
    sign everyone out) and counts as a fetch for the rate limit.
    """

    def __init__(
        self,
        url: str,
        ttl: float,
        refetch_interval: float = UNKNOWN_KID_REFETCH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 5.0,
    ) -> None:
        self._url = url
        self._ttl = ttl
        self._refetch_interval = refetch_interval
        self._clock = clock
        self._timeout = timeout
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._tried_at: float | None = None  # last attempt, successful or not
        self._attempts = 0  # attempts finished: a waiter that sees it move uses the fresh answer
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        if self._fetched_at is None or self._clock() - self._fetched_at >= self._ttl:
            # While the issuer is down, expired keys are kept and the fetch retried every few seconds.
            await self._refresh(seen=self._attempts, min_gap=min(self._ttl, EXPIRED_RETRY_SECONDS))
        if kid in self._keys:
            return self._keys[kid]
        await self._refresh(seen=self._attempts, min_gap=self._refetch_interval)
        if kid in self._keys:
            return self._keys[kid]
        raise Unauthorized("Token signing key is not known")

    async def _refresh(self, *, seen: int, min_gap: float) -> None:
        async with self._lock:
            if self._attempts != seen:
                return  # another request fetched while we waited: use its answer
            if self._tried_at is not None and self._clock() - self._tried_at < min_gap:
                return
            self._tried_at = self._clock()
            try:
                await self._fetch()
            finally:
                self._attempts += 1

    async def _fetch(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.get(self._url)
                response.raise_for_status()
            jwks = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            log.warning("jwks_fetch_failed", url=self._url, error=str(exc))
            return
        self._keys = {key.key_id: key for key in jwks.keys if key.key_id}
        self._fetched_at = self._clock()


class Authenticator:
    def __init__(self, settings: GatewaySettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._secret = settings.auth_jwt_secret.get_secret_value() if settings.auth_jwt_secret else None
        self._audience = settings.auth_audience
        self._issuer = settings.issuer
        self._leeway = settings.auth_leeway_seconds
        url = settings.jwks_url
        self._jwks = JwksCache(url, settings.auth_jwks_cache_seconds, clock=clock) if url else None

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized("Missing bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization header must be 'Bearer <token>'")
        return self._principal(await self._verified_claims(token.strip()))

    async def _verified_claims(self, token: str) -> dict[str, object]:
        """The token decoded and verified by PyJWT once per request: only its header is read beforehand,
        to choose the key (PyJWT's own header read loads and checks every segment of the token)."""
        required = ["exp", "sub"] + (["iss"] if self._issuer else [])
        try:
            header = _unverified_header(token)
            algorithm = header.get("alg")
            kid = header.get("kid")
            if algorithm == "HS256" and self._secret:
                key: object = self._secret
            elif algorithm in _ASYMMETRIC and self._jwks is not None:
                key = (await self._jwks.key(kid if isinstance(kid, str) else None)).key
            else:
                raise Unauthorized("Token algorithm is not accepted")
            claims: dict[str, object] = jwt.decode(
                token,
                key,  # type: ignore[arg-type]
                algorithms=[str(algorithm)],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": required, "verify_aud": self._audience is not None},
            )
        except Unauthorized:
            raise
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token has expired") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise Unauthorized("Token is invalid") from exc
        return claims

    @staticmethod
    def _principal(claims: dict[str, object]) -> Principal:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 128:
            raise Unauthorized("Token has no usable subject")
        role = claims.get("role")
        metadata = claims.get("app_metadata")
        app_role = metadata.get("role") if isinstance(metadata, dict) else None
        anonymous = claims.get("is_anonymous") is True
        if app_role == "admin":
            return Principal(user_id=subject, role="admin", is_anonymous=anonymous)
        return Principal(user_id=subject, role=role if isinstance(role, str) else None, is_anonymous=anonymous)


def _unverified_header(token: str) -> dict[str, object]:
    """The JOSE header, to choose the key and the algorithm by. Nothing here is trusted: `jwt.decode`
    then parses the whole token strictly, checks the header it signed and that its `alg` is the one
    chosen, so a header this lenient read accepts but PyJWT would not still fails there."""
    segment = token.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise jwt.DecodeError("Invalid header") from exc
    if not isinstance(header, dict):
        raise jwt.DecodeError("Invalid header: must be a JSON object")
    if not isinstance(header.get("kid", ""), str):
        raise jwt.InvalidTokenError("Key ID header parameter must be a string")
    return header


def mint_token(
    secret: str, user_id: str, *, role: str | None = None, ttl_seconds: int = 86400, issuer: str | None = None
) -> str:
    """For local development and tests: a token shaped like Supabase's."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": user_id, "iat": now, "exp": now + ttl_seconds, "aud": "authenticated"}
    if role:
        claims["role"] = role
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm="HS256")
