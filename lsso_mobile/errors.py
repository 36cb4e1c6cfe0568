"""Domain errors raised by services; the API maps each to one HTTP status.

A service that must keep what it wrote before failing (a wrong PIN counts towards a delay, a
reused refresh token revokes its family) raises an error with ``keep_changes = True``: the
request then commits instead of rolling back.

Every error carries a stable snake_case ``error`` code the app can switch on, and an English ``message``
that is a constant catalogue id: variable parts go in ``params`` (``"No office serves {province}."``,
``params={"province": code}``) so the message can be translated into the caller's language at the edge.
``text`` is the English message with its parameters filled in.

Field messages (``errors={"field": ["Message."]}``) are constant English sentences too; ``FIELD_CODES``
gives each its code (``field_code``), including marshmallow's own messages. README "Errors and languages"
lists the codes.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    keep_changes = False

    def __init__(
        self,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        keep_changes: bool | None = None,
        error: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.params = dict(params or {})
        super().__init__(message.format(**self.params) if self.params else message)
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.error = error  # a stable code the app can switch on, where one is defined
        if keep_changes is not None:
            self.keep_changes = keep_changes

    @property
    def text(self) -> str:
        """The English message with its parameters filled in."""
        return self.message.format(**self.params) if self.params else self.message


# The code of an error raised or answered without one of its own, by HTTP status.
DEFAULT_CODES: dict[int, str] = {
    400: "unreadable_body",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    500: "internal_error",
}

INVALID_FIELD = "invalid"  # the code of a field message not listed below

# Field message (a catalogue id) -> its code. marshmallow's own messages first, then ours.
FIELD_CODES: dict[str, str] = {
    # marshmallow
    "Missing data for required field.": "required",
    "Field may not be null.": "null",
    "Unknown field.": "unknown_field",
    "Invalid input type.": "invalid_type",
    "Invalid value.": "invalid",
    "Not a valid string.": "invalid_type",
    "Not a valid integer.": "invalid_type",
    "Not a valid number.": "invalid_type",
    "Not a valid boolean.": "invalid_type",
    "Not a valid list.": "invalid_type",
    "Not a valid tuple.": "invalid_type",
    "Not a valid mapping type.": "invalid_type",
    "Not a valid date.": "invalid_date",
    "Not a valid datetime.": "invalid_date",
    "Not a valid time.": "invalid_date",
    "Not a valid email address.": "invalid_format",
    "Not a valid URL.": "invalid_format",
    "Not a valid UUID.": "invalid_format",
    "Not a valid period of time.": "invalid_type",
    "Cannot be formatted as a datetime.": "invalid_date",
    "Cannot be formatted as a date.": "invalid_date",
    "Special numeric values (nan or infinity) are not permitted.": "invalid_number",
    "Number too large.": "too_large",
    "Not a valid {obj_type}.": "invalid_type",
    "String does not match expected pattern.": "invalid_format",
    "Invalid enum member {input}": "not_allowed",
    "Must be one of: {choices}.": "not_allowed",
    "Must be one of: {choices}": "not_allowed",
    "Must be equal to {other}.": "not_allowed",
    "Shorter than minimum length {min}.": "too_short",
    "Longer than maximum length {max}.": "too_long",
    "Length must be between {min} and {max}.": "wrong_length",
    "Length must be {equal}.": "wrong_length",
    "Must be greater than or equal to {min}.": "too_small",
    "Must be greater than {min}.": "too_small",
    "Must be less than or equal to {max}.": "too_large",
    "Must be less than {max}.": "too_large",
    "Must be greater than or equal to {min} and less than or equal to {max}.": "out_of_range",
    "Must be greater than {min} and less than {max}.": "out_of_range",
    "Must be greater than or equal to {min} and less than {max}.": "out_of_range",
    "Must be greater than {min} and less than or equal to {max}.": "out_of_range",
    "Invalid value. Must be one of: {choices}.": "not_allowed",
    "One or more of the choices you made was not in: {choices}.": "not_allowed",
    "One or more of the choices you made was in: {values}.": "not_allowed",
    "Invalid input.": "invalid",
    "Invalid type.": "invalid_type",
    "Not a valid utf-8 string.": "invalid_type",
    "Not a valid {awareness} {obj_type}.": "invalid_date",
    "Not a valid IP address.": "invalid_format",
    "Not a valid IP interface.": "invalid_format",
    "Not a valid IPv4 address.": "invalid_format",
    "Not a valid IPv4 interface.": "invalid_format",
    "Not a valid IPv6 address.": "invalid_format",
    "Not a valid IPv6 interface.": "invalid_format",
    # ours: text, lists, files
    "At most {max} characters.": "too_long",
    "At most {max} items.": "too_many_items",
    "At most {max} bytes.": "too_large",
    "At most {max} pages.": "too_many_pages",
    "At most {max} pixels.": "too_large",
    "{count} unknown fields; the first {shown} are listed.": "unknown_field",
    "Nested deeper than {max} levels.": "too_deep",
    "Invalid JSON body.": "invalid_json",
    "Write something: this is empty.": "empty",
    "empty": "empty",
    "Contains a NUL character or an unpaired surrogate.": "forbidden_character",
    "Contains a control character (new lines and tabs only where text has several lines).": "forbidden_character",
    "Contains an invisible formatting character (a bidirectional override or a zero-width character).": (
        "forbidden_character"
    ),
    "Contains a bidirectional override, embedding or isolate character.": "forbidden_character",
    "Too long for a phone number.": "too_long",
    "Not a phone number.": "invalid_phone",
    "Not a Lao mobile number (+856 20 followed by 8 digits).": "invalid_phone",
    "Give the local time as HH:MM (Asia/Vientiane), without a UTC offset.": "invalid_time",
    "Give the local time (Asia/Vientiane) without a UTC offset.": "invalid_time",
    "Not a valid {kind}.": "invalid_file",
    "Not a JPEG, PNG or PDF file.": "unsupported_type",
    "The PDF holds active content.": "active_content",
    "too complex": "too_complex",
    "Listed twice.": "duplicate",
    "Unknown or already used.": "unavailable",
    "unknown, not an image, or already used": "unavailable",
    "Too many uploaded files are waiting to be sent.": "quota_reached",
    "Already used for another request.": "already_used",
    # ours: codes and sign-in
    "Wrong code; {tries_left} tries left.": "wrong_code",
    "wrong code": "wrong_code",
    "expired or not requested": "code_expired",
    "too many wrong tries": "code_tries_exhausted",
    "Enter the code sent by SMS.": "step_up_required",
    "unchanged": "unchanged",
    "too short": "too_short",
    # ours: the domain
    "required": "required",
    "required for this decision": "required",
    "required for officers": "required",
    "required until you register": "required",
    "body or canned_reply_id": "required",
    "give both or neither": "incomplete",
    "The date is in the future.": "in_future",
    "Applicants must be at least {min_age} years old.": "too_young",
    "Consent is required to register.": "consent_required",
    "Unknown province.": "unknown_province",
    "Unknown district for this province.": "unknown_district",
    "Unknown village for this district.": "unknown_village",
    "unknown province": "unknown_province",
    "unknown district for this province": "unknown_district",
    "unknown village for this district": "unknown_village",
    "Unknown province code(s): {codes}": "unknown_province",
    "Unknown district code(s): {codes}": "unknown_district",
    "unknown office": "unknown_office",
    "Unknown categories: {categories}.": "unknown_category",
    "4 to 32 letters or digits (spaces and dashes do not count).": "invalid_format",
    "at most 32 letters and digits": "invalid_format",
    "already insured": "already_insured",
    "Not allowed in this status.": "status_conflict",
    "Not allowed after the claim's current status.": "status_conflict",
    "not an officer of your office": "not_allowed",
    "duplicate weekday": "duplicate",
    "closes before opens": "invalid_range",
    "out of range": "out_of_range",
    "passed": "in_past",
    "too soon": "too_soon",
    "must not exceed earnings_ceiling": "too_large",
    "must not exceed recent_window_months": "too_large",
    "invalid": "invalid",
    # ours: staff accounts
    "taken": "taken",
    "unknown": "unknown",
    "wrong": "wrong",
    "enrolment not started": "enrolment_not_started",
}


def field_code(message: str) -> str:
    """The code of a field message (a catalogue id); ``invalid`` for one not listed."""
    return FIELD_CODES.get(message, INVALID_FIELD)


class UnreadableBody(DomainError):
    """The body cannot be read at all (not JSON, say): a 400."""

    status = 400


class InvalidInput(DomainError):
    status = 422


class NotAuthenticated(DomainError):
    status = 401


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class PayloadTooLarge(DomainError):
    status = 413


class UriTooLong(DomainError):
    status = 414


class UnsupportedMediaType(DomainError):
    status = 415


class TooManyRequests(DomainError):
    """A limit was reached; the caller may try again after ``retry_after`` seconds."""

    status = 429

    def __init__(
        self,
        message: str,
        *,
        retry_after: int,
        errors: dict[str, Any] | None = None,
        keep_changes: bool | None = None,
        error: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(
            message,
            errors=errors,
            headers={"Retry-After": str(self.retry_after)},
            keep_changes=keep_changes,
            error=error,
            params=params,
        )
