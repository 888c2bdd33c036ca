"""Bearer JWTs as Supabase issues them: HS256 with a shared secret, or RS256/ES256 keys from a JWKS URL."""

import asyncio
from dataclasses import dataclass

import jwt

from .settings import GatewaySettings

_ASYMMETRIC = ("RS256", "ES256")


class Unauthorized(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Authenticator:
    def __init__(self, settings: GatewaySettings) -> None:
        self._secret = settings.auth_jwt_secret.get_secret_value() if settings.auth_jwt_secret else None
        self._audience = settings.auth_audience
        self._jwks = jwt.PyJWKClient(settings.auth_jwks_url, cache_keys=True) if settings.auth_jwks_url else None

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized("Missing bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization header must be 'Bearer <token>'")
        token = token.strip()
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            if algorithm == "HS256" and self._secret:
                key: object = self._secret
            elif algorithm in _ASYMMETRIC and self._jwks is not None:
                # PyJWKClient fetches over blocking HTTP (cached); keep it off the event loop.
                signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                key = signing_key.key
            else:
                raise Unauthorized("Token algorithm is not accepted")
            claims = jwt.decode(
                token,
                key,  # type: ignore[arg-type]
                algorithms=[algorithm],
                audience=self._audience,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except Unauthorized:
            raise
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token has expired") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise Unauthorized("Token is invalid") from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 128:
            raise Unauthorized("Token has no usable subject")
        role = claims.get("role")
        app_role = (
            (claims.get("app_metadata") or {}).get("role") if isinstance(claims.get("app_metadata"), dict) else None
        )
        return Principal(user_id=subject, role=app_role if app_role == "admin" else role)


def mint_token(secret: str, user_id: str, *, role: str | None = None, ttl_seconds: int = 86400) -> str:
    """For local development and tests: a token shaped like Supabase's."""
    import time

    now = int(time.time())
    claims: dict[str, object] = {"sub": user_id, "iat": now, "exp": now + ttl_seconds, "aud": "authenticated"}
    if role:
        claims["role"] = role
    return jwt.encode(claims, secret, algorithm="HS256")
