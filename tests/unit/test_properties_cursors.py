"""Properties of the signed page cursors (domain/cursors.py).

- Round trip: for every listing a request can ask for (any `q` the API accepts, any role, any sort) and any
  position, the cursor the server hands out decodes to that position, and fits the `cursor` parameter.
- Whatever else comes back is InvalidCursor: any text, a cursor for another listing or from another server,
  or a real cursor with one character changed. (Base64 decoding skips characters outside its alphabet, so an
  edit may spell the same bytes: then it is the same cursor, with the same position; never another one.)

Quick-suite tests: a few hundred examples of microseconds each.
"""

from __future__ import annotations

import string

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from authgate.domain.cursors import MAX_CURSOR_LENGTH, CursorCodec, Listing
from authgate.domain.users import EMAIL_MAX, login_key
from authgate.errors import InvalidCursor
from authgate.http.schemas_audit import AuditListQuery
from authgate.http.schemas_users import UserListQuery

QUICK = settings(max_examples=300, deadline=None)
CODEC = CursorCodec(b"s" * 32)
IDS = st.uuids().map(str)

# What `GET /users` accepts (domain/admin.py): q → login_key(q), at most EMAIL_MAX, no NUL; a role name.
prefixes = st.text(max_size=EMAIL_MAX).map(login_key).filter(lambda p: len(p) <= EMAIL_MAX and "\x00" not in p)
users_listings = st.builds(
    Listing,
    name=st.just("users"),
    sort=st.sampled_from(["created_at", "-created_at", "username"]),
    prefix=prefixes,
    role=st.text(alphabet=string.ascii_lowercase + string.digits + "_-", max_size=32),
)
# `GET /audit`: the user id and the event filter.
audit_listings = st.builds(
    Listing, name=st.just("audit"), sort=st.just("-id"), prefix=st.just("") | IDS, role=st.text(max_size=64)
)
# A sort key: a username key (at most 32 after NFKC), the microseconds of a time, or an id.
keys = st.text(max_size=32).map(login_key) | st.integers(0, 2**63).map(str) | IDS


def _cursor_fits_the_parameter(cursor: str) -> None:
    assert len(cursor) <= MAX_CURSOR_LENGTH
    for query in (UserListQuery, AuditListQuery):  # their max_length bounds what a client may send back
        msgspec.convert({"cursor": cursor}, query)


@QUICK
@given(users_listings | audit_listings, keys, IDS)
@example(Listing("users", "username", "é" * EMAIL_MAX, "user"), "z" * 32, "0190a0a0-0000-7000-8000-000000000000")
@example(
    Listing("users", "created_at", "\U0010ffff" * EMAIL_MAX, "r" * 32), "9" * 19, "0190a0a0-0000-7000-8000-000000000000"
)
def test_every_cursor_the_server_makes_decodes_to_its_position(listing: Listing, key: str, ident: str) -> None:
    cursor = CODEC.encode(listing, (key, ident))
    _cursor_fits_the_parameter(cursor)
    assert CODEC.decode(cursor, listing) == (key, ident)


@QUICK
@given(users_listings, users_listings, keys, IDS)
def test_a_cursor_is_good_only_for_its_listing(made_for: Listing, used_for: Listing, key: str, ident: str) -> None:
    cursor = CODEC.encode(made_for, (key, ident))
    if used_for == made_for:
        assert CODEC.decode(cursor, used_for) == (key, ident)
    else:
        with pytest.raises(InvalidCursor):
            CODEC.decode(cursor, used_for)


@QUICK
@given(users_listings, keys, IDS)
def test_a_cursor_from_another_server_is_refused(listing: Listing, key: str, ident: str) -> None:
    with pytest.raises(InvalidCursor):
        CursorCodec(b"t" * 32).decode(CODEC.encode(listing, (key, ident)), listing)


@QUICK
@given(st.text(max_size=700), users_listings)
@example("", Listing("users", "created_at"))
@example("=" * 600, Listing("users", "created_at"))
def test_any_text_is_refused(text: str, listing: Listing) -> None:
    with pytest.raises(InvalidCursor):
        CODEC.decode(text, listing)


REAL_LISTING = Listing("users", "username", "al", "user")
REAL_POSITION = ("alice", "0190a0a0-0000-7000-8000-000000000001")
REAL = CODEC.encode(REAL_LISTING, REAL_POSITION)


@st.composite
def one_edit(draw: st.DrawFn) -> str:
    at = draw(st.integers(0, len(REAL) - 1))
    char = draw(st.sampled_from(string.ascii_letters + string.digits + "-_=+/. \x00é"))
    edit = draw(st.sampled_from(["replace", "insert", "delete"]))
    if edit == "insert":
        return REAL[:at] + char + REAL[at:]
    if edit == "delete":
        return REAL[:at] + REAL[at + 1 :]
    return REAL[:at] + char + REAL[at + 1 :]


@QUICK
@given(one_edit())
def test_one_edit_to_a_real_cursor_is_refused_or_the_same_cursor(cursor: str) -> None:
    try:
        position = CODEC.decode(cursor, REAL_LISTING)
    except InvalidCursor:
        return
    assert position == REAL_POSITION  # the same bytes, spelled otherwise: never another position
