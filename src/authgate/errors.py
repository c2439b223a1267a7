"""The errors authgate raises, each with a stable snake_case `code` that clients may rely on.

Handlers and use cases raise these; exactly one place (`authgate.http.problems`) turns them into an
`application/problem+json` response, choosing the status from the branch of the tree:

    AuthgateError
    ├── BadRequest                      400
    │   ├── MalformedBody               400 malformed_json
    │   ├── InvalidCursor               400 invalid_cursor
    │   └── InvalidToken                400 invalid_token (a bad verification/reset token in a body)
    ├── Unauthorized                    401 (with WWW-Authenticate: Bearer)
    │   ├── InvalidCredentials          401 invalid_credentials
    │   ├── MissingToken                401 missing_token
    │   ├── InvalidAccessToken          401 invalid_token
    │   ├── InvalidRefreshToken         401 invalid_refresh_token
    │   │   └── RefreshTokenExpired     401 invalid_refresh_token (told apart in the metrics only)
    │   ├── RefreshTokenReused          401 refresh_token_reused
    │   ├── SessionEnded                401 session_ended
    │   ├── InvalidMfaToken             401 invalid_mfa_token (the second step of a login came too late, or forged)
    │   ├── InvalidMfaCode              401 invalid_mfa_code
    │   └── InvalidPasskey              401 invalid_passkey
    ├── Forbidden                       403
    │   ├── NotAllowed                  403 forbidden
    │   ├── RegistrationClosed          403 registration_closed
    │   ├── EmailNotVerified            403 email_not_verified (AUTHGATE_REQUIRE_VERIFIED_EMAIL, after the password)
    │   ├── MfaRequired                 403 mfa_required (with `mfa_token`: the password was right, a code is due)
    │   ├── EmailLoginDisabled          403 email_login_disabled
    │   ├── SecondFactorRequired        403 second_factor_required (AUTHGATE_ADMIN_REQUIRES_SECOND_FACTOR)
    │   └── CsrfFailed                  403 csrf_failed
    ├── NotFound                        404
    │   ├── RouteNotFound               404 not_found
    │   ├── UserNotFound                404 user_not_found
    │   ├── SessionNotFound             404 session_not_found
    │   ├── PasskeyNotFound             404 passkey_not_found
    │   └── PasskeysUnavailable         404 passkeys_unavailable (the issuer's host is an IP address)
    ├── MethodNotAllowed                405 method_not_allowed (with Allow)
    ├── RequestTimeout                  408 request_timeout (the body came too slowly; the connection is closed)
    ├── Conflict                        409
    │   ├── UsernameTaken               409 username_taken
    │   ├── EmailTaken                  409 email_taken
    │   ├── EmailAlreadyVerified        409 email_already_verified
    │   ├── MfaAlreadyEnabled           409 mfa_already_enabled
    │   ├── MfaNotEnabled               409 mfa_not_enabled (no authenticator set up, or none waiting to be confirmed)
    │   ├── TooManyPasskeys             409 too_many_passkeys
    │   ├── UserDisabled                409 user_disabled (an admin asked for a link that a disabled account cannot use)
    │   └── LastAdmin                   409 last_admin
    ├── PayloadTooLarge                 413 payload_too_large
    ├── UnsupportedMediaType            415 unsupported_media_type
    ├── ValidationFailed                422 validation_failed (with a list of field errors)
    ├── RateLimited                     429 rate_limited (with Retry-After)
    └── Unavailable                     503
        ├── Overloaded                  503 overloaded (with Retry-After)
        ├── DatabaseUnavailable         503 database_unavailable (with Retry-After)
        └── StorageFull                 507 storage_full (with Retry-After): no room left to write; reads still work

Anything else that escapes a handler is a bug: it is logged with its traceback and answers 500
`internal_error` with the request id and nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import msgspec


class FieldError(msgspec.Struct, frozen=True):
    field: str
    message: str


class AuthgateError(Exception):
    code: ClassVar[str] = "error"
    title: ClassVar[str] = "Error"
    detail: str

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.title
        super().__init__(self.detail)


class BadRequest(AuthgateError):
    code = "bad_request"
    title = "Bad request"


class MalformedBody(BadRequest):
    code = "malformed_json"
    title = "The request body is not valid JSON"


class InvalidCursor(BadRequest):
    code = "invalid_cursor"
    title = "The cursor is invalid"


class InvalidToken(BadRequest):
    code = "invalid_token"
    title = "The token is invalid or expired"


class Unauthorized(AuthgateError):
    code = "unauthorized"
    title = "Authentication required"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    title = "Invalid username or password"


class MissingToken(Unauthorized):
    code = "missing_token"
    title = "A bearer access token is required"


class InvalidAccessToken(Unauthorized):
    code = "invalid_token"
    title = "The access token is invalid"


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"
    title = "The refresh token is invalid or expired"


class RefreshTokenExpired(InvalidRefreshToken):
    """Same code as any invalid refresh token (clients need not tell them apart); the metrics do."""

    title = "The refresh token has expired"


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    title = "The refresh token was already used; the session has been ended"


class SessionEnded(Unauthorized):
    code = "session_ended"
    title = "The session has ended"


class InvalidMfaToken(Unauthorized):
    code = "invalid_mfa_token"
    title = "This sign-in has expired; log in again with your password"


class InvalidMfaCode(Unauthorized):
    code = "invalid_mfa_code"
    title = "That code is not valid"


class InvalidPasskey(Unauthorized):
    code = "invalid_passkey"
    title = "That passkey could not sign you in"


class Forbidden(AuthgateError):
    code = "forbidden"
    title = "Forbidden"


class NotAllowed(Forbidden):
    code = "forbidden"
    title = "You are not allowed to do this"


class EmailLoginDisabled(Forbidden):
    code = "email_login_disabled"
    title = "Signing in with a mailed link is not enabled here"


class SecondFactorRequired(Forbidden):
    code = "second_factor_required"
    title = "This needs a session started with two-step login or a passkey: sign in again with one"


class RegistrationClosed(Forbidden):
    code = "registration_closed"
    title = "Registration is closed"


class EmailNotVerified(Forbidden):
    code = "email_not_verified"
    title = "Verify your email address first: follow the link we mailed you"


class MfaRequired(Forbidden):
    """The password was right and the account has a second factor: the login goes on at `/auth/login/mfa` with
    `mfa_token` (which the problem response carries) and a code."""

    code = "mfa_required"
    title = "Enter a code from your authenticator app to finish logging in"

    def __init__(self, mfa_token: str, expires_in: int) -> None:
        self.mfa_token = mfa_token
        self.expires_in = expires_in
        super().__init__()


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    title = "The form has expired or is not genuine; please try again"


class NotFound(AuthgateError):
    code = "not_found"
    title = "Not found"


class RouteNotFound(NotFound):
    code = "not_found"
    title = "No such resource"


class UserNotFound(NotFound):
    code = "user_not_found"
    title = "No such user"


class SessionNotFound(NotFound):
    code = "session_not_found"
    title = "No such session"


class PasskeyNotFound(NotFound):
    code = "passkey_not_found"
    title = "No such passkey"


class PasskeysUnavailable(NotFound):
    code = "passkeys_unavailable"
    title = "Passkeys are not available here: the issuer's host is an IP address, not a domain"


class MethodNotAllowed(AuthgateError):
    code = "method_not_allowed"
    title = "Method not allowed"

    def __init__(self, allowed: Sequence[str]) -> None:
        self.allowed = tuple(allowed)
        super().__init__(f"Allowed: {', '.join(self.allowed)}")


class RequestTimeout(AuthgateError):
    code = "request_timeout"
    title = "The request body did not arrive in time"


class Conflict(AuthgateError):
    code = "conflict"
    title = "Conflict"


class UsernameTaken(Conflict):
    code = "username_taken"
    title = "That username is taken"


class EmailTaken(Conflict):
    code = "email_taken"
    title = "That email address is already registered"


class EmailAlreadyVerified(Conflict):
    code = "email_already_verified"
    title = "Your email address is already verified"


class MfaAlreadyEnabled(Conflict):
    code = "mfa_already_enabled"
    title = "Two-step login is already on: turn it off first to set up another authenticator"


class MfaNotEnabled(Conflict):
    code = "mfa_not_enabled"
    title = "Two-step login is not set up"


class TooManyPasskeys(Conflict):
    code = "too_many_passkeys"
    title = "You have as many passkeys as an account may have: remove one first"


class UserDisabled(Conflict):
    code = "user_disabled"
    title = "The account is disabled: enable it first"


class LastAdmin(Conflict):
    code = "last_admin"
    title = "The last admin cannot be removed"


class PayloadTooLarge(AuthgateError):
    code = "payload_too_large"
    title = "The request body is too large"


class UnsupportedMediaType(AuthgateError):
    code = "unsupported_media_type"
    title = "Unsupported media type"


class ValidationFailed(AuthgateError):
    code = "validation_failed"
    title = "The request is not valid"

    def __init__(self, errors: Sequence[FieldError], detail: str | None = None) -> None:
        self.errors = list(errors)
        super().__init__(detail or "; ".join(f"{e.field}: {e.message}" for e in self.errors))


class RateLimited(AuthgateError):
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(detail or f"Try again in {self.retry_after} s")


class Unavailable(AuthgateError):
    code = "unavailable"
    title = "Service unavailable"
    retry_after: int = 1


class Overloaded(Unavailable):
    code = "overloaded"
    title = "The server is busy; try again shortly"


class DatabaseUnavailable(Unavailable):
    code = "database_unavailable"
    title = "The database is unavailable; try again shortly"
    retry_after = 2


class StorageFull(Unavailable):
    """The disk under the database is full: writes are refused until there is room, reads go on."""

    code = "storage_full"
    title = "The server has no room left to store this; try again later"
    retry_after = 30
