"""Console forms (Flask-WTF: each carries the CSRF token). Messages are lazy so they show in the officer's
language; the rules themselves stay in the services (a form only bounds sizes and says what is required)."""

from __future__ import annotations

import uuid

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from lsso_mobile.models import ClaimStatus
from lsso_mobile.services import conversations as conversation_service
from lsso_mobile.services.core_import import MAX_KIP

REQUIRED = _l("Fill in this field.")
TOO_LONG = _l("This is too long.")


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(REQUIRED), Length(max=64, message=TOO_LONG)])
    password = PasswordField(_l("Password"), validators=[DataRequired(REQUIRED), Length(max=200, message=TOO_LONG)])
    totp_code = StringField(
        _l("Code from your authenticator app (if you have set one up)"),
        validators=[Optional(), Length(max=10, message=TOO_LONG)],
    )
    next = HiddenField()


class MessageForm(FlaskForm):
    body = TextAreaField(
        validators=[DataRequired(REQUIRED), Length(max=conversation_service.MAX_BODY_CHARS, message=TOO_LONG)],
    )
    key = HiddenField(default=lambda: str(uuid.uuid4()))  # one click, one message, even if sent twice


class ReplyForm(MessageForm):
    pass


class NoteForm(MessageForm):
    pass


class ActionForm(FlaskForm):
    """A button that changes something (assign, resolve, reopen): the CSRF token only."""


class DecisionForm(FlaskForm):
    decision = SelectField(
        _l("Decision"),
        choices=[
            SelectChoice("approve", _l("Approve")),
            SelectChoice("reject", _l("Reject")),
            SelectChoice("request_info", _l("Ask for information")),
        ],
        validators=[DataRequired(REQUIRED)],
    )
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000, message=TOO_LONG)])


class LinkDecisionForm(FlaskForm):
    decision = SelectField(
        _l("Decision"),
        choices=[SelectChoice("approve", _l("Approve")), SelectChoice("reject", _l("Reject"))],
        validators=[DataRequired(REQUIRED)],
    )
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000, message=TOO_LONG)])


class ClaimStatusForm(FlaskForm):
    status = SelectField(_l("New status"), choices=[SelectChoice(s.value, s.value) for s in ClaimStatus])
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000, message=TOO_LONG)])
    # Kip; approving (or paying) a claim with no approved amount yet needs it.
    amount_approved = IntegerField(_l("Amount approved"), validators=[Optional(), NumberRange(min=0, max=MAX_KIP)])


class LanguageForm(FlaskForm):
    lang = HiddenField()
    next = HiddenField()
