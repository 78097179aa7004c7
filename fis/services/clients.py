"""API clients (OAuth2 client credentials) and their bearer tokens.

A client's secret is shown once when it is made and stored only as a scrypt hash; an access token
is 32 random bytes stored as its SHA-256 (it has full entropy, so a fast hash suffices) with an
expiry. Revoking a client deletes its tokens, so they stop working at once.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from fis.errors import InvalidInput, NotFound
from fis.store.db import transaction
from fis.store.orm import AccessToken, Client

ROLES = ("user", "admin")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a client's id, name and role."""

    client_id: str
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class ClientInfo:
    """A client as ``fis clients list`` shows it (never the secret)."""

    client_id: str
    name: str
    role: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


def hash_secret(secret: str) -> str:
    """``scrypt$<salt>$<hash>`` (both base64) of a client secret."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_secret(secret: str, stored: str) -> bool:
    """True when ``secret`` hashes to ``stored`` (constant-time comparison)."""
    scheme, _, rest = stored.partition("$")
    salt_text, _, digest_text = rest.partition("$")
    if scheme != "scrypt" or not digest_text:
        return False
    digest = hashlib.scrypt(secret.encode(), salt=base64.b64decode(salt_text), **_SCRYPT)
    return hmac.compare_digest(digest, base64.b64decode(digest_text))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # SQLite returns naive UTC


def create_client(sessions: sessionmaker[Session], name: str, role: str = "user") -> tuple[str, str]:
    """Make a client; returns ``(client_id, client_secret)``: the secret is not kept and cannot be shown again."""
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} is not known; use one of {', '.join(ROLES)}", field="role")
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("the client name must be 1 to 200 characters", field="name")
    client_id = "fis-" + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    with transaction(sessions) as session:
        session.add(Client(id=client_id, name=name, role=role, secret_hash=hash_secret(secret), created_at=_now()))
    return client_id, secret


def list_clients(sessions: sessionmaker[Session]) -> list[ClientInfo]:
    """Every client, oldest first (revoked ones too)."""
    with sessions() as session:
        rows = session.scalars(select(Client).order_by(Client.created_at, Client.id)).all()
        return [
            ClientInfo(r.id, r.name, r.role, _aware(r.created_at), r.revoked_at and _aware(r.revoked_at)) for r in rows
        ]


def revoke_client(sessions: sessionmaker[Session], client_id: str) -> None:
    """Revoke a client: its tokens are deleted and it can get no new ones."""
    with transaction(sessions) as session:
        client = session.get(Client, client_id)
        if client is None:
            raise NotFound(f"client {client_id!r} not found; see `fis clients list`", field="client_id")
        client.revoked_at = client.revoked_at or _now()
        session.execute(delete(AccessToken).where(AccessToken.client_id == client_id))


def issue_token(sessions: sessionmaker[Session], client_id: str, client_secret: str, ttl: int) -> IssuedToken | None:
    """A new access token for valid, unrevoked credentials; None otherwise."""
    with transaction(sessions) as session:
        client = session.get(Client, client_id)
        if client is None or client.revoked_at is not None or not verify_secret(client_secret, client.secret_hash):
            return None
        now = _now()
        session.execute(delete(AccessToken).where(AccessToken.client_id == client_id, AccessToken.expires_at < now))
        token = secrets.token_urlsafe(32)
        session.add(AccessToken(
            token_hash=_token_hash(token), client_id=client_id, expires_at=now + dt.timedelta(seconds=ttl)
        ))
    return IssuedToken(token, ttl)


def principal_of(session: Session, token: str) -> Principal | None:
    """The client a bearer token belongs to; None for an unknown, expired or revoked one."""
    row = session.execute(
        select(AccessToken.expires_at, Client.id, Client.name, Client.role, Client.revoked_at)
        .join(Client, Client.id == AccessToken.client_id)
        .where(AccessToken.token_hash == _token_hash(token))
    ).first()
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= _now():
        return None
    return Principal(row.id, row.name, row.role)
