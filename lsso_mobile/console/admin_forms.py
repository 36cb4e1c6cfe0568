"""Forms of the account, staff administration and rules pages (Flask-WTF: each carries the CSRF token).
Bounds and the rules between values stay in the services; a form only says what is required and how long."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional, Regexp

from lsso_mobile.console.forms import REQUIRED, TOO_LONG
from lsso_mobile.services.conversations import MAX_BODY_CHARS
from lsso_mobile.validation import MAX_TITLE_CHARS

WHOLE_NUMBER = _l("Enter a whole number.")


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(REQUIRED), Length(max=200, message=TOO_LONG)]
    )
    new_password = PasswordField(
        _l("New password (at least 10 characters)"),
        validators=[DataRequired(REQUIRED), Length(max=200, message=TOO_LONG)],
    )
    repeat = PasswordField(
        _l("New password again"),
        validators=[DataRequired(REQUIRED), EqualTo("new_password", message=_l("The two new passwords differ."))],
    )


class TotpConfirmForm(FlaskForm):
    code = StringField(
        _l("Code shown by the app"), validators=[DataRequired(REQUIRED), Length(max=10, message=TOO_LONG)]
    )


ROLE_LABELS = {"officer": _l("Officer"), "ops": _l("Operations"), "admin": _l("Administrator")}


def role_choices() -> list[SelectChoice]:
    return [SelectChoice(value, text) for value, text in ROLE_LABELS.items()]


class StaffEditForm(FlaskForm):
    display_name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=200, message=TOO_LONG)])
    role = SelectField(_l("Role"), choices=role_choices, validators=[DataRequired(REQUIRED)])
    office_code = SelectField(_l("Office"), choices=[], validate_choice=True)


class StaffCreateForm(StaffEditForm):
    username = StringField(
        _l("Username"),
        validators=[
            DataRequired(REQUIRED),
            Length(min=3, max=64, message=_l("Use 3 to 64 characters.")),
            Regexp(r"^[A-Za-z0-9._-]+$", message=_l("Use letters, digits, dots, dashes and underscores only.")),
        ],
    )


class SecondFactorRequirementForm(FlaskForm):
    required = BooleanField(_l("Require a second factor"))


class SchemeRuleForm(FlaskForm):
    employee_rate_bp = IntegerField(
        _l("Employee rate (basis points: 550 = 5.5%)"), validators=[InputRequired(WHOLE_NUMBER)]
    )
    employer_rate_bp = IntegerField(_l("Employer rate (basis points)"), validators=[InputRequired(WHOLE_NUMBER)])
    earnings_floor = IntegerField(_l("Earnings floor (kip)"), validators=[InputRequired(WHOLE_NUMBER)])
    earnings_ceiling = IntegerField(_l("Earnings ceiling (kip)"), validators=[InputRequired(WHOLE_NUMBER)])
    due_day = IntegerField(_l("Due day of the month (1 to 28)"), validators=[InputRequired(WHOLE_NUMBER)])


class EligibilityRuleForm(FlaskForm):
    min_total_months = IntegerField(_l("Months of contributions in total"), validators=[InputRequired(WHOLE_NUMBER)])
    min_recent_months = IntegerField(_l("Months within the recent window"), validators=[InputRequired(WHOLE_NUMBER)])
    recent_window_months = IntegerField(_l("Recent window (months)"), validators=[InputRequired(WHOLE_NUMBER)])
    min_age = IntegerField(_l("Minimum age (empty: none)"), validators=[Optional()])


class CannedReplyForm(FlaskForm):
    """An office's canned reply; the office is chosen when it is created and never changes."""

    office_code = SelectField(_l("Office"), choices=[], validate_choice=False)
    title = StringField(
        _l("Title (officers pick it by this)"),
        validators=[DataRequired(REQUIRED), Length(max=MAX_TITLE_CHARS, message=TOO_LONG)],
    )
    body_lo = TextAreaField(
        _l("Text in Lao"), validators=[DataRequired(REQUIRED), Length(max=MAX_BODY_CHARS, message=TOO_LONG)]
    )
    body_en = TextAreaField(
        _l("Text in English"), validators=[DataRequired(REQUIRED), Length(max=MAX_BODY_CHARS, message=TOO_LONG)]
    )


class AreaFileForm(FlaskForm):
    """An areas CSV; to apply, the fingerprint of the plan that was previewed comes with the same file."""

    file = FileField(_l("CSV file (UTF-8)"), validators=[FileRequired(_l("Choose a CSV file."))])
    digest = HiddenField()
    fingerprint = HiddenField()
