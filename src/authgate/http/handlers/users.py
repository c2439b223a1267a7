"""/users: user management for admins (a Bearer access token with the `admin` role)."""

from __future__ import annotations

import logging

import msgspec

from authgate.domain.admin import UserChanges
from authgate.errors import (
    EmailTaken,
    InvalidCursor,
    LastAdmin,
    Overloaded,
    UserDisabled,
    UsernameTaken,
    UserNotFound,
    ValidationFailed,
)
from authgate.http.bearer import require_role
from authgate.http.decoding import field_error, read_json
from authgate.http.handlers.auth import client_info
from authgate.http.handlers.email import accepted
from authgate.http.operations import operation
from authgate.http.request import Request
from authgate.http.responses import Response, empty, json_response
from authgate.http.schemas import LogoutAllResponse, SessionResponse, UserResponse
from authgate.http.schemas_email import MailAccepted
from authgate.http.schemas_users import (
    CreateUserRequest,
    UpdateUserRequest,
    UserDetailsResponse,
    UserList,
    UserListItem,
    UserListQuery,
    UserSessionList,
)

security = logging.getLogger("authgate.security")

_create = msgspec.json.Decoder(CreateUserRequest)
_update = msgspec.json.Decoder(UpdateUserRequest)
_ADMIN = "admin"


def _query(req: Request) -> UserListQuery:
    try:
        return msgspec.convert(req.query, UserListQuery, strict=False)
    except msgspec.ValidationError as exc:
        raise ValidationFailed([field_error(str(exc))]) from None


@operation(
    "List users",
    description="Keyset pagination: follow `next_cursor` until it is null. Each page costs the same however deep "
    "it is, and a walk returns every user exactly once even while users come and go. A cursor is valid only "
    "with the sort, q and role it was made for.",
    tag="users",
    auth="admin",
    query=UserListQuery,
    response=UserList,
    errors=(InvalidCursor,),
)
async def list_users(req: Request) -> Response:
    await require_role(req, _ADMIN)
    query = _query(req)
    listing = await req.services.admin.list(
        limit=query.limit, cursor=query.cursor or None, q=query.q or None, role=query.role or None, sort=query.sort
    )
    items = [UserListItem.of_listed(u, listing.two_step) for u in listing.users]
    return json_response(UserList(items=items, next_cursor=listing.next_cursor))


@operation(
    "Create a user",
    description="The same rules and conflicts as registration, even when registration is closed.",
    tag="users",
    auth="admin",
    request=CreateUserRequest,
    response=UserResponse,
    status=201,
    headers={"location": "The URL of the new user"},
    errors=(UsernameTaken, EmailTaken, Overloaded),
)
async def create_user(req: Request) -> Response:
    admin = await require_role(req, _ADMIN)
    body = await read_json(req, _create)
    roles = None if body.roles is msgspec.UNSET else body.roles
    password = None if body.password is msgspec.UNSET else body.password
    user = await req.services.admin.create(
        body.username, body.email, password, roles, actor_id=admin.user.id, client=client_info(req)
    )
    security.info(
        "user created by an admin",
        extra={
            "event": "admin_user_create",
            "user_id": admin.user.id,
            "target_id": user.id,
            "roles": list(user.roles),
            "invited": password is None,
            "request_id": req.request_id,
        },
    )
    return json_response(UserResponse.of(user), 201, [("location", f"/users/{user.id}")])


@operation(
    "Get a user",
    description="The account, its two-step login and how many sessions it has active.",
    tag="users",
    auth="admin",
    response=UserDetailsResponse,
    errors=(UserNotFound,),
)
async def get_user(req: Request) -> Response:
    await require_role(req, _ADMIN)
    details = await req.services.admin.details(req.params["user_id"])
    return json_response(UserDetailsResponse.of_details(details))


@operation(
    "List a user's sessions",
    description="Active sessions, newest first: when and from where each began, when it was last used.",
    tag="users",
    auth="admin",
    response=UserSessionList,
    errors=(UserNotFound,),
)
async def list_user_sessions(req: Request) -> Response:
    await require_role(req, _ADMIN)
    sessions = await req.services.admin.sessions(req.params["user_id"])
    return json_response(UserSessionList(items=[SessionResponse.of(s, "") for s in sessions]))


@operation(
    "Sign a user out everywhere",
    description="Ends every session of the user without disabling the account (a lost device, a suspicion): "
    "their access tokens stop working at once and their refresh tokens fail; they can log in again.",
    tag="users",
    auth="admin",
    response=LogoutAllResponse,
    errors=(UserNotFound,),
)
async def logout_user(req: Request) -> Response:
    admin = await require_role(req, _ADMIN)
    target = req.params["user_id"]
    ended = await req.services.admin.end_sessions(target, actor_id=admin.user.id, client=client_info(req))
    security.info(
        "sessions ended by an admin",
        extra={
            "event": "admin_sessions_end",
            "user_id": admin.user.id,
            "target_id": target,
            "ended": ended,
            "request_id": req.request_id,
        },
    )
    return json_response(LogoutAllResponse(ended))


@operation(
    "Mail a user a link to choose a password",
    description="To an account made without a password: the invitation again (valid AUTHGATE_INVITATION_TTL). To "
    "any other: a password reset link (AUTHGATE_PASSWORD_RESET_TTL). Following it sets the password, verifies the "
    "address and ends every session of the user; the admin neither sets nor learns the password. The mail is "
    "sent in the background.",
    tag="users",
    auth="admin",
    status=202,
    response=MailAccepted,
    errors=(UserNotFound, UserDisabled),
)
async def send_password_link(req: Request) -> Response:
    admin = await require_role(req, _ADMIN)
    user = await req.services.admin.send_password_link(
        req.params["user_id"], actor_id=admin.user.id, client=client_info(req)
    )
    security.info(
        "password link mailed by an admin",
        extra={
            "event": "admin_password_link",
            "user_id": admin.user.id,
            "target_id": user.id,
            "invitation": not user.has_password,
            "request_id": req.request_id,
        },
    )
    return accepted()


@operation(
    "Change a user",
    description="Change the email (it becomes unverified), the roles, or disable / enable the user. Disabling "
    "ends every session of the user at once. The last admin cannot be demoted or disabled (409 last_admin). "
    "A password cannot be set here: admins never choose another user's password.",
    tag="users",
    auth="admin",
    request=UpdateUserRequest,
    response=UserResponse,
    errors=(UserNotFound, EmailTaken, LastAdmin),
)
async def update_user(req: Request) -> Response:
    admin = await require_role(req, _ADMIN)
    body = await read_json(req, _update)
    changes = UserChanges(email=body.email, roles=body.roles, disabled=body.disabled)
    user = await req.services.admin.update(
        req.params["user_id"], changes, actor_id=admin.user.id, client=client_info(req)
    )
    security.info(
        "user changed by an admin",
        extra={
            "event": "admin_user_update",
            "user_id": admin.user.id,
            "target_id": user.id,
            "changed": changes.names(),
            "roles": list(user.roles),
            "disabled": user.disabled,
            "request_id": req.request_id,
        },
    )
    return json_response(UserResponse.of(user))


@operation(
    "Delete a user",
    description="Deletes the user and ends their sessions at once. The last admin cannot be deleted.",
    tag="users",
    auth="admin",
    status=204,
    errors=(UserNotFound, LastAdmin),
)
async def delete_user(req: Request) -> Response:
    admin = await require_role(req, _ADMIN)
    user = await req.services.admin.delete(req.params["user_id"], actor_id=admin.user.id, client=client_info(req))
    security.info(
        "user deleted by an admin",
        extra={
            "event": "admin_user_delete",
            "user_id": admin.user.id,
            "target_id": user.id,
            "request_id": req.request_id,
        },
    )
    return empty(204)
