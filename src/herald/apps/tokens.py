"""End-user tokens: JWTs (HS256) that an app mints for one of its users with its end-user key.

Claims: `sub` the user id, `iss` the app's key, `iat` and `exp`. The app's backend mints them
itself with any JWT library (or asks Herald to), so no round trip to Herald is needed per
page view, and a token names the one user it was minted for: an end user cannot ask for
another user's data, only present a token the app gave them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from herald.kit.errors import InvalidToken, TokenExpired

ALGORITHM = "HS256"
# A token cannot be revoked one by one (rotating the key revokes them all): a day bounds
# how long a leaked one is worth having, and is as long as a page should stay open unrefreshed.
MAX_LIFETIME = timedelta(hours=24)
# Clock skew between the app's servers and Herald's.
LEEWAY = timedelta(seconds=30)
# Far more than the four claims need: anything longer is refused before it is parsed.
MAX_TOKEN = 2048
USER_ID_MAX = 200  # the users table's column


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: str
    expires_at: datetime


def mint(key: str, app_key: str, user_id: str, now: datetime, ttl: timedelta) -> tuple[str, datetime]:
    """A token for `user_id` of the app `app_key`, signed with its end-user `key`; and its expiry."""
    iat = math.floor(now.timestamp())
    exp = iat + int(min(ttl, MAX_LIFETIME).total_seconds())
    claims = {"sub": user_id, "iss": app_key, "iat": iat, "exp": exp}
    return jwt.encode(claims, key, algorithm=ALGORITHM), datetime.fromtimestamp(exp, UTC)


def issuer(token: str) -> str | None:
    """The app key a token claims to come from, unverified: which app's keys to check it with."""
    if len(token) > MAX_TOKEN:
        return None
    try:
        iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.InvalidTokenError:
        return None
    return iss if isinstance(iss, str) else None


def verify(token: str, app_key: str, keys: Sequence[str]) -> Claims:
    """The token's claims if one of `keys` signed it for `app_key` and it is live.

    Raises TokenExpired for a genuine token past its expiry (an end user's page left open:
    not an attack), InvalidToken for anything else, with the reason only once the signature
    is known to be the app's.
    """
    for key in keys:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=app_key,
                leeway=LEEWAY,
                options={"require": ["sub", "iss", "iat", "exp"], "verify_aud": False},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError:
            raise TokenExpired() from None
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"the token is not valid: {exc}") from None
        return _checked(claims)
    raise InvalidToken()


def _checked(claims: dict[str, object]) -> Claims:
    sub, iat, exp = claims["sub"], claims["iat"], claims["exp"]
    assert isinstance(iat, int | float) and isinstance(exp, int | float)  # PyJWT checked them
    if not isinstance(sub, str) or not 0 < len(sub) <= USER_ID_MAX or "\x00" in sub:
        raise InvalidToken(f"the token's sub is not a user id (1 to {USER_ID_MAX} characters)")
    if exp - iat > MAX_LIFETIME.total_seconds():
        raise InvalidToken(f"a token lives at most {int(MAX_LIFETIME.total_seconds())} seconds (exp - iat)")
    return Claims(sub, datetime.fromtimestamp(exp, UTC))
