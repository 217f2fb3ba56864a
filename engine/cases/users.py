"""The team's users: who may sign in to the web app, with which role, and the check of a password.

Passwords are hashed with argon2id (argon2-cffi's defaults, salt and parameters inside the hash);
only the hash is stored. A user is never deleted, only disabled: the timeline names people as
``by``, and the name must keep meaning the same person.

Roles, from least to most: viewer (reads), collector (records payments, promises, disputes,
holds, notes), legal (also approves and edits the letter templates), admin (also manages users).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from engine.cases.desk import Desk
from engine.errors import RelanceError
from engine.core.roles import ROLES
from engine.store.models import User

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 8
# Each role may do what the ones before it may (see the module docstring).
RANK = {role: rank for rank, role in enumerate(ROLES)}

_hasher = PasswordHasher()
# Checked when the name is unknown, so a wrong name costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("relance: no such user")


class UserError(RelanceError):
    """A user that cannot be added or changed as asked."""


@dataclass(frozen=True)
class UserInfo:
    """A user as the web app and `relance user list` see it (never the hash)."""

    name: str
    role: str
    active: bool
    created_at: datetime

    def may(self, role: str) -> bool:
        """Whether this user has ``role``'s rights (an admin may do what legal may, and so on)."""
        return self.active and RANK[self.role] >= RANK[role]


def add_user(desk: Desk, name: str, role: str, password: str) -> UserInfo:
    """A new active user; refuses a taken name, an unknown role, a short password."""
    if not NAME.fullmatch(name or ""):
        raise UserError(f"{name!r}: a user name is 1 to 64 letters, digits, '.', '_', '@' or '-'")
    if role not in ROLES:
        raise UserError(f"{role!r}: unknown role; choose one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must be at least {MIN_PASSWORD} characters long")
    with desk.session() as session:
        if session.scalar(select(User.id).where(User.name == name)) is not None:
            raise UserError(f"user {name!r} already exists (`relance user list`)")
        user = User(name=name, role=role, password_hash=_hasher.hash(password), active=True, created_at=_now())
        session.add(user)
        session.flush()
        return _info(user)


def list_users(desk: Desk) -> list[UserInfo]:
    with desk.session() as session:
        return [_info(user) for user in session.scalars(select(User).order_by(User.name))]


def disable_user(desk: Desk, name: str) -> UserInfo:
    """The user can no longer sign in; sessions already open end at their next request."""
    with desk.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        if user is None:
            raise UserError(f"no user {name!r} (`relance user list`)")
        if user.active:
            user.active = False
            user.disabled_at = _now()
        return _info(user)


def get_user(desk: Desk, name: str) -> UserInfo | None:
    """The user named ``name`` if it exists and is active: what a request's session is checked against."""
    with desk.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        return _info(user) if user is not None and user.active else None


def authenticate(desk: Desk, name: str, password: str) -> UserInfo | None:
    """The active user when ``password`` is theirs, else None (same answer and cost for an unknown name)."""
    with desk.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        stored = user.password_hash if user is not None and user.active else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or not user.active:
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        return _info(user)


def _info(user: User) -> UserInfo:
    return UserInfo(user.name, user.role, user.active, user.created_at)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


__all__ = ["RANK", "ROLES", "UserError", "UserInfo", "add_user", "authenticate", "disable_user", "get_user",
           "list_users"]
