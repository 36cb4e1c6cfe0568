"""Console pages. Each view reads its form, calls the service function the staff API calls, commits and
redirects (or renders the form again with the problem next to its field; nothing is written then)."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from wtforms import Form
from wtforms.fields.choices import SelectChoice

from lsso_mobile import i18n
from lsso_mobile.api.access import client_ip, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.api.conversations.attachments import file_response
from lsso_mobile.api.schemas import decode_cursor, decode_time_cursor, encode_time_cursor, page
from lsso_mobile.console.auth import officer_page, public_page, sign_in, sign_out, signed_in_principal
from lsso_mobile.console.forms import (
    ActionForm,
    ClaimStatusForm,
    DecisionForm,
    LanguageForm,
    LinkDecisionForm,
    LoginForm,
    NoteForm,
    ReplyForm,
)
from lsso_mobile.console.messages import translate as translate_error
from lsso_mobile.console.setup import LANGUAGES, console_language, csrf
from lsso_mobile.errors import DomainError, InvalidInput
from lsso_mobile.models import (
    ApplicationStatus,
    ClaimStatus,
    ConversationCategory,
    ConversationStatus,
    LinkRequestStatus,
)
from lsso_mobile.services import attachments as attachment_service
from lsso_mobile.services import canned_replies as canned_service
from lsso_mobile.services import claims, linking, member_lookup, registrations
from lsso_mobile.services import conversations as conversation_service
from lsso_mobile.services import staff_inbox as inbox_service
from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.console_sessions import staff_user
from lsso_mobile.services.phones import mask_phone
from lsso_mobile.services.staff import staff_names

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")

PAGE_SIZE = 25
THREAD_SIZE = 200  # messages shown on a conversation page (newest)
INBOX_REFRESH_SECONDS = 20  # app.config["CONSOLE_INBOX_REFRESH_SECONDS"] overrides it (tests)

LABELS: dict[str, Any] = {
    # conversation statuses and categories
    "open": _l("Waiting for us"),
    "pending": _l("Waiting for the member"),
    "resolved": _l("Resolved"),
    "contributions": _l("Contributions"),
    "claims": _l("Claims"),
    "registration": _l("Registration"),
    "other": _l("Other"),
    # applications and claims
    "awaiting_confirmation": _l("Awaiting the person's confirmation"),
    "submitted": _l("Submitted"),
    "more_info_needed": _l("More information needed"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "received": _l("Received"),
    "under_review": _l("Under review"),
    "paid": _l("Paid"),
    # benefits
    "sickness": _l("Sickness"),
    "maternity": _l("Maternity"),
    "employment_injury": _l("Employment injury"),
    "invalidity": _l("Invalidity"),
    "old_age_pension": _l("Old-age pension"),
    "survivors": _l("Survivors"),
    "funeral": _l("Funeral"),
    "health_care": _l("Health care"),
    # schemes, sexes
    "voluntary": _l("Voluntary"),
    "compulsory": _l("Compulsory"),
    "male": _l("Male"),
    "female": _l("Female"),
    # ID types
    "national_id": _l("National ID card"),
    "family_book": _l("Family book"),
    # staff roles, confirmation of field registrations
    "promoter": _l("Promoter"),
    "officer": _l("Officer"),
    "code": _l("Code sent to the person's phone"),
}


def label(value: Any) -> str:
    key = getattr(value, "value", value)
    return str(LABELS.get(key, key))


@bp.app_template_filter("label")
def _label_filter(value: Any) -> str:
    return label(value)


@bp.app_template_filter("money")
def _money_filter(kip: int) -> str:
    """Kip as members read it in SMS and notices (``lsso_mobile.i18n.format_money``), in the console's language."""
    return i18n.format_money(kip, console_language())


@bp.context_processor
def _common() -> dict[str, Any]:
    principal: Principal | None = g.get("principal")
    return {
        "me": staff_user(db_session(), principal.id) if principal else None,
        "language": session.get("lang") if session.get("lang") in LANGUAGES else "lo",
        "language_form": LanguageForm(),
        # where the language switch returns to: this page, or for a form shown again after a POST, its page
        "here": g.get("here")
        or (request.full_path.rstrip("?") if request.method == "GET" else url_for("console.inbox")),
        "now": now(),
        # called by the menu only, so an htmx refresh of a list does not count
        "pending_link_requests": lambda: (
            linking.count_pending_link_requests(db_session(), principal)
            if principal is not None and principal.role == "officer"
            else 0
        ),
    }


@bp.before_request
def _check_csrf() -> None:
    # Every writing request (form or htmx) carries the token, in the form or the X-CSRFToken header.
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()


@bp.after_request
def _compress_text_assets(response: Response) -> Response:
    # Static files are sent as streams, which Flask-Compress leaves alone; the script and stylesheet are
    # worth compressing on a slow link (htmx: 52 KB -> about 16 KB).
    static_text = request.endpoint == "console.static" and response.mimetype in ("text/css", "text/javascript")
    if static_text and response.status_code == 200:
        response.direct_passthrough = False
        response.set_data(response.get_data())  # read the file: a buffered body is one Flask-Compress compresses
    return response


@bp.errorhandler(CSRFError)
def _csrf_refused(exc: CSRFError) -> Any:
    return render_template(
        "console/error.html",
        title=_("The form has expired"),
        message=_("The page was open too long or came from elsewhere. Go back, reload the page and try again."),
    ), 400


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Any:
    db_session().rollback()
    title = _("Not found") if exc.status == 404 else _("Not possible")
    page = render_template("console/error.html", title=title, message=translate_error(exc))
    return page, exc.status, exc.headers  # e.g. Retry-After when the write budget is spent


@bp.errorhandler(404)
def _not_found(_exc: Any) -> Any:
    return render_template("console/error.html", title=_("Not found"), message=_("There is no such page.")), 404


def _safe_next(target: str | None, role: str | None = None) -> str:
    """Only a path inside the console: never another site. Without one, the role's first page."""
    if target and target.startswith("/console") and not urlsplit(target).netloc and "\\" not in target:
        return target
    return url_for(HOME_PAGES.get(role or "officer", "console.account"))


def show_refusal(form: Form, exc: DomainError, *, not_found_page: bool = True) -> None:
    """A service refused what a form asked: the request's unit of work is rolled back and the refusal shown next
    to the field it names (or above the form). "No such thing" (404) is the not-found page unless
    ``not_found_page`` is off (the form then says it)."""
    if not_found_page and exc.status == 404:
        raise exc
    db_session().rollback()
    _field_errors(form, exc)


def _field_errors(form: Form, exc: DomainError) -> None:
    """Show a service's refusal next to the field it names (or above the form)."""
    placed = False
    for name in exc.errors or {}:
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, translate_error(exc)]
            placed = True
    if not placed:
        form.form_errors.append(translate_error(exc))


# -- sign-in, language ---------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
@public_page
def login() -> Any:
    form = LoginForm()
    if request.method == "GET":
        principal = signed_in_principal()
        if principal is not None:
            return redirect(_safe_next(request.args.get("next"), principal.role))
        form.next.data = request.args.get("next", "")
    elif form.validate_on_submit():
        try:
            principal = sign_in(form.username.data or "", form.password.data or "", form.totp_code.data or None)
        except DomainError as exc:
            if exc.keep_changes:
                commit()  # failed attempts count towards the lockout
            else:
                db_session().rollback()
            if exc.error in ("second_factor_required", "totp_code_wrong"):
                form.totp_code.errors = [translate_error(exc)]
            else:
                form.password.errors = [translate_error(exc)]
            return render_template("console/login.html", form=form), exc.status
        commit()
        return redirect(_safe_next(form.next.data, principal.role))
    else:
        return render_template("console/login.html", form=form), 422
    return render_template("console/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@public_page
def logout() -> Any:
    sign_out()
    commit()
    flash(_("You are signed out."))
    return redirect(url_for("console.login"))


@bp.route("/language", methods=["POST"])
@public_page
def language() -> Any:
    form = LanguageForm()
    if form.lang.data in LANGUAGES:
        session["lang"] = form.lang.data
    target = form.next.data or ""
    return redirect(target if target.startswith("/console") and "//" not in target else url_for("console.login"))


@bp.route("", methods=["GET"])
@bp.route("/", methods=["GET"])
@public_page
def home() -> Any:
    """Each role's first page: officers their inbox, ops the broadcasts, admins the staff accounts, others their
    account."""
    principal = signed_in_principal()
    return redirect(_safe_next(None, principal.role if principal else None))


# Each role's first page (other modules add theirs).
HOME_PAGES = {"officer": "console.inbox", "ops": "console.broadcasts_list", "admin": "console.staff_list"}


# -- inbox and conversations ---------------------------------------------------------------------------

TABS = {"mine": "me", "unassigned": "unassigned", "all": None}


E = TypeVar("E", bound=Enum)


def _enum_arg(enum_type: type[E], name: str, default: str = "") -> E | None:
    """A query argument naming one of ``enum_type``'s values; None (no filter) for anything else."""
    text = request.args.get(name, default)
    return enum_type(text) if text in enum_type._value2member_map_ else None


def _id_page(lister: Callable[..., list[Any]], *args: Any) -> dict[str, Any]:
    """One page of an id-ordered list of the officer's office: ``lister(session, principal, *args, after, limit)``."""
    items = lister(db_session(), g.principal, *args, decode_cursor(request.args.get("cursor")), PAGE_SIZE + 1)
    return page(items, PAGE_SIZE)


def _inbox_context() -> dict[str, Any]:
    principal: Principal = g.principal
    tab = request.args.get("tab", "mine")
    if tab not in TABS:
        tab = "mine"
    status = _enum_arg(ConversationStatus, "status", "open")
    category = _enum_arg(ConversationCategory, "category")
    overdue = request.args.get("overdue") == "1"
    session_, moment = db_session(), now()
    filters = inbox_service.InboxFilter(status, category, TABS[tab], overdue)
    items = inbox_service.list_office_conversations(
        session_, principal, filters, moment, decode_time_cursor(request.args.get("cursor")), PAGE_SIZE + 1
    )
    result = page(items, PAGE_SIZE, lambda c: encode_time_cursor(c.last_message_at, c.id))
    conversations = result["items"]
    summaries = conversation_service.conversation_summaries(session_, [c.id for c in conversations], for_member=False)
    cards = member_lookup.member_cards(session_, [c.member_id for c in conversations])
    return {
        "tab": tab,
        "status": status.value if status else "all",
        "category": category.value if category else "",
        "overdue": overdue,
        "rows": [(c, summaries[c.id], cards.get(c.member_id)) for c in conversations],
        "next_cursor": result["next_cursor"],
        "counts": inbox_service.office_counts(session_, principal, moment),
        "refresh_seconds": current_app.config.get("CONSOLE_INBOX_REFRESH_SECONDS", INBOX_REFRESH_SECONDS),
        "query": {k: v for k, v in request.args.items() if k != "cursor"},
    }


@bp.route("/inbox", methods=["GET"])
@officer_page
def inbox() -> Any:
    context = _inbox_context()
    if request.headers.get("HX-Request"):
        return render_template("console/_inbox_rows.html", **context)
    return render_template("console/inbox.html", **context)


def _conversation_context(conversation_id: int, **forms: Any) -> dict[str, Any]:
    session_, principal = db_session(), g.principal
    conversation = inbox_service.staff_conversation(session_, principal, conversation_id)
    if inbox_service.mark_read_by_staff(session_, conversation, now()):
        commit()
    messages = list(
        reversed(
            conversation_service.list_messages(
                session_, conversation.id, None, None, THREAD_SIZE, include_internal=True
            )
        )
    )
    return {
        "conversation": conversation,
        "card": member_lookup.member_cards(session_, [conversation.member_id]).get(conversation.member_id),
        "messages": messages,
        "attachments": attachment_service.attachments_of(session_, [m.id for m in messages]),
        "staff_names": staff_names(session_, {m.staff_id for m in messages} | {conversation.assignee_id}),
        "reply_form": forms.get("reply_form") or ReplyForm(formdata=None),
        "note_form": forms.get("note_form") or NoteForm(formdata=None),
        "action_form": ActionForm(formdata=None),
        "canned": canned_service.list_canned_replies(session_, principal, None, canned_service.MAX_ACTIVE_PER_OFFICE),
    }


@bp.route("/conversations/<int:conversation_id>", methods=["GET"])
@officer_page
def conversation(conversation_id: int) -> Any:
    return render_template("console/conversation.html", **_conversation_context(conversation_id))


def _post_message(conversation_id: int, internal: bool) -> Any:
    form = NoteForm() if internal else ReplyForm()
    if form.validate():
        try:
            inbox_service.post_staff_message(
                db_session(),
                settings(),
                g.principal,
                conversation_id,
                form.body.data,
                None,
                [],
                form.key.data or None,
                internal,
                now(),
            )
        except InvalidInput as exc:
            show_refusal(form, exc, not_found_page=False)
        else:
            commit()
            flash(_("Your note is saved.") if internal else _("Your reply is sent."))
            return redirect(url_for("console.conversation", conversation_id=conversation_id))
    forms = {"note_form" if internal else "reply_form": form}
    g.here = url_for("console.conversation", conversation_id=conversation_id)
    return render_template("console/conversation.html", **_conversation_context(conversation_id, **forms)), 422


@bp.route("/conversations/<int:conversation_id>/reply", methods=["POST"])
@officer_page
def reply(conversation_id: int) -> Any:
    return _post_message(conversation_id, internal=False)


@bp.route("/conversations/<int:conversation_id>/note", methods=["POST"])
@officer_page
def note(conversation_id: int) -> Any:
    return _post_message(conversation_id, internal=True)


@bp.route("/conversations/<int:conversation_id>/assign", methods=["POST"])
@officer_page
def assign(conversation_id: int) -> Any:
    inbox_service.assign(db_session(), g.principal, conversation_id, "me", now(), address=client_ip())
    commit()
    flash(_("The conversation is assigned to you."))
    return redirect(url_for("console.conversation", conversation_id=conversation_id))


def _set_status(conversation_id: int, status: ConversationStatus, done: str) -> Any:
    inbox_service.set_status(db_session(), settings(), g.principal, conversation_id, status, now(), address=client_ip())
    commit()
    flash(done)
    return redirect(url_for("console.conversation", conversation_id=conversation_id))


@bp.route("/conversations/<int:conversation_id>/resolve", methods=["POST"])
@officer_page
def resolve(conversation_id: int) -> Any:
    return _set_status(conversation_id, ConversationStatus.RESOLVED, _("The conversation is resolved."))


@bp.route("/conversations/<int:conversation_id>/reopen", methods=["POST"])
@officer_page
def reopen(conversation_id: int) -> Any:
    return _set_status(conversation_id, ConversationStatus.OPEN, _("The conversation is open again."))


@bp.route("/attachments/<int:attachment_id>", methods=["GET"])
@officer_page
def attachment(attachment_id: int) -> Any:
    response = file_response(attachment_service.staff_attachment(db_session(), g.principal, attachment_id))
    response.headers["Cache-Control"] = "private, no-store"  # ID cards, medical papers: not left on office PCs
    return response


# -- registrations -------------------------------------------------------------------------------------


@bp.route("/registrations", methods=["GET"])
@officer_page
def registrations_list() -> Any:
    status = _enum_arg(ApplicationStatus, "status", "submitted")
    result = _id_page(registrations.list_applications, status)
    cards = member_lookup.member_cards(db_session(), [a.member_id for a in result["items"] if a.member_id])
    return render_template(
        "console/registrations.html",
        applications=result["items"],
        cards=cards,
        next_cursor=result["next_cursor"],
        status=status.value if status else "all",
        statuses=list(ApplicationStatus),
    )


def _application_context(application_id: int, form: DecisionForm | None = None) -> dict[str, Any]:
    session_ = db_session()
    application = registrations.get_application_for_staff(session_, g.principal, application_id)
    return {
        "application": application,
        "card": (
            member_lookup.member_cards(session_, [application.member_id]).get(application.member_id)
            if application.member_id is not None
            else None
        ),
        "duplicates": member_lookup.national_id_matches(session_, application, g.principal.office_id),
        "form": form or DecisionForm(formdata=None),
    }


@bp.route("/registrations/<int:application_id>", methods=["GET"])
@officer_page
def registration(application_id: int) -> Any:
    return render_template("console/registration.html", **_application_context(application_id))


@bp.route("/registrations/<int:application_id>/decision", methods=["POST"])
@officer_page
def decide(application_id: int) -> Any:
    form = DecisionForm()
    if form.validate():
        try:
            application = registrations.decide_application(
                db_session(),
                g.principal,
                application_id,
                form.decision.data or "",
                form.reason.data,
                now(),
                address=client_ip(),
            )
        except DomainError as exc:
            show_refusal(form, exc)
        else:
            commit()
            if application.insured_person is not None:
                flash(
                    _("Approved. The new member number is %(number)s.", number=application.insured_person.member_number)
                )
            else:
                flash(_("Your decision is saved and the member is told."))
            return redirect(url_for("console.registration", application_id=application_id))
    g.here = url_for("console.registration", application_id=application_id)
    return render_template("console/registration.html", **_application_context(application_id, form)), 422


# -- claims --------------------------------------------------------------------------------------------


def _claim_form(formdata: Any = None) -> ClaimStatusForm:
    form = ClaimStatusForm(formdata=formdata) if formdata is not None else ClaimStatusForm(formdata=None)
    form.status.choices = [SelectChoice(s.value, label(s)) for s in ClaimStatus]
    return form


@bp.route("/claims", methods=["GET"])
@officer_page
def claims_list() -> Any:
    status = _enum_arg(ClaimStatus, "status")
    result = _id_page(claims.list_claims_for_staff, status)
    return render_template(
        "console/claims.html",
        claims=result["items"],
        persons=member_lookup.persons_by_id(db_session(), [c.insured_person_id for c in result["items"]]),
        next_cursor=result["next_cursor"],
        status=status.value if status else "",
        statuses=list(ClaimStatus),
        form=_claim_form(),
        errors_for=None,
    )


@bp.route("/claims/<int:claim_id>/status", methods=["POST"])
@officer_page
def claim_status(claim_id: int) -> Any:
    form = _claim_form(request.form)
    session_ = db_session()
    if form.validate():
        try:
            claim = claims.claim_for_staff(session_, g.principal, claim_id)
            claims.change_claim_status(
                session_,
                claim,
                ClaimStatus(form.status.data),
                form.reason.data,
                now(),
                staff_id=g.principal.id,
                amount_approved=form.amount_approved.data,
                address=client_ip(),
            )
        except DomainError as exc:
            show_refusal(form, exc)
        else:
            commit()
            flash(_("The claim's status is changed and the member is told."))
            return redirect(url_for("console.claims_list", status=request.args.get("status", "")))
    claim = claims.claim_for_staff(session_, g.principal, claim_id)
    g.here = url_for("console.claims_list")
    return render_template(
        "console/claims.html",
        claims=[claim],
        persons=member_lookup.persons_by_id(session_, [claim.insured_person_id]),
        next_cursor=None,
        status="",
        statuses=list(ClaimStatus),
        form=form,
        errors_for=claim_id,
    ), 422


# -- members -------------------------------------------------------------------------------------------


@bp.route("/members", methods=["GET"])
@officer_page
def members() -> Any:
    query = request.args.get("q", "")
    results: list[member_lookup.MemberCard] = []
    error = None
    next_cursor = None
    if query.strip():
        try:
            result = _id_page(member_lookup.search_members, query)
        except InvalidInput as exc:
            error = translate_error(exc)
        else:
            results, next_cursor = result["items"], result["next_cursor"]
    return render_template("console/members.html", q=query, results=results, error=error, next_cursor=next_cursor)


@bp.route("/members/<int:member_id>", methods=["GET"])
@officer_page
def member(member_id: int) -> Any:
    detail = member_lookup.member_detail(db_session(), g.principal, member_id, now())
    return render_template("console/member.html", detail=detail)


# -- link requests -------------------------------------------------------------------------------------


@bp.route("/link-requests", methods=["GET"])
@officer_page
def link_requests_list() -> Any:
    status = _enum_arg(LinkRequestStatus, "status", "pending")
    result = _id_page(linking.list_link_requests, status)
    return render_template(
        "console/link_requests.html",
        requests=result["items"],
        phones=linking.masked_phones_of(db_session(), {r.member_id for r in result["items"]}),
        next_cursor=result["next_cursor"],
        status=status.value if status else "all",
        statuses=list(LinkRequestStatus),
    )


def _link_request_context(link_request_id: int, form: LinkDecisionForm | None = None) -> dict[str, Any]:
    session_ = db_session()
    link_request = linking.get_link_request_for_staff(session_, g.principal, link_request_id)
    person = link_request.insured_person
    return {
        "link_request": link_request,
        "person": person,
        "phone_on_record": mask_phone(person.phone) if person.phone else None,
        "account_phone": linking.masked_phones_of(session_, {link_request.member_id})[link_request.member_id],
        "form": form or LinkDecisionForm(formdata=None),
    }


@bp.route("/link-requests/<int:link_request_id>", methods=["GET"])
@officer_page
def link_request(link_request_id: int) -> Any:
    return render_template("console/link_request.html", **_link_request_context(link_request_id))


@bp.route("/link-requests/<int:link_request_id>/photo", methods=["GET"])
@officer_page
def link_request_photo(link_request_id: int) -> Any:
    response = file_response(linking.link_request_photo(db_session(), g.principal, link_request_id))
    response.headers["Cache-Control"] = "private, no-store"  # an ID card: not kept in the browser's cache
    return response


@bp.route("/link-requests/<int:link_request_id>/decision", methods=["POST"])
@officer_page
def decide_link_request(link_request_id: int) -> Any:
    form = LinkDecisionForm()
    if form.validate():
        try:
            decided = linking.decide_link_request(
                db_session(),
                settings(),
                g.principal,
                link_request_id,
                form.decision.data or "",
                form.reason.data,
                now(),
                address=client_ip(),
            )
        except DomainError as exc:
            show_refusal(form, exc)
        else:
            commit()
            if decided.status is LinkRequestStatus.APPROVED:
                flash(
                    _(
                        "Approved. Member number %(number)s is now linked to the member's app.",
                        number=decided.insured_person.member_number,
                    )
                )
            else:
                flash(_("Rejected. The member is told why."))
            return redirect(url_for("console.link_request", link_request_id=link_request_id))
    g.here = url_for("console.link_request", link_request_id=link_request_id)
    return render_template("console/link_request.html", **_link_request_context(link_request_id, form)), 422
