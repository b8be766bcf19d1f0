"""The domain error hierarchy. No HTTP here: the API maps these to problems in one place."""

from __future__ import annotations


class RagPlatformError(Exception):
    """Base of every error the platform reports to a caller."""

    code = "error"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class InvalidInput(RagPlatformError):
    """The request is well-formed but its content is not acceptable."""

    code = "invalid_input"


class Unauthenticated(RagPlatformError):
    """No valid credential was presented."""

    code = "unauthenticated"


class PermissionDenied(RagPlatformError):
    """The credential is valid but lacks the role or scope for the action."""

    code = "permission_denied"


class NotFound(RagPlatformError):
    """The object does not exist or belongs to another tenant."""

    code = "not_found"


class Conflict(RagPlatformError):
    """The action conflicts with the current state (duplicate name, ...)."""

    code = "conflict"


class PayloadTooLarge(RagPlatformError):
    """The request or one of its parts exceeds a configured size limit."""

    code = "payload_too_large"


class UnsupportedMediaType(RagPlatformError):
    """The content type is not supported."""

    code = "unsupported_media_type"


class RateLimited(RagPlatformError):
    """Too many requests; retry after ``retry_after`` seconds."""

    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = max(1, int(retry_after))


class QuotaExceeded(RateLimited):
    """A tenant quota (documents, stored bytes) would be exceeded."""

    code = "quota_exceeded"


class Unavailable(RagPlatformError):
    """A dependency (database, vector store, model) is down; retry after ``retry_after``."""

    code = "unavailable"

    def __init__(self, detail: str, *, retry_after: int = 5, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = max(1, int(retry_after))


class StartupError(Exception):
    """The platform cannot start; the message is one readable line."""
