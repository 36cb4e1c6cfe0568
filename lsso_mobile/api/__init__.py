"""flask-smorest blueprints, one module per resource."""

from __future__ import annotations

from flask_smorest import Api

from lsso_mobile.api import (
    auth,
    broadcasts,
    cards,
    claims,
    contributions,
    conversations,
    delivery,
    field,
    health,
    index,
    integration,
    link_requests,
    member_lookup,
    members,
    notifications,
    office_calendar,
    payments,
    reference,
    registrations,
    rules,
    sms_gateway,
    staff,
    staff_admin,
)


def register_blueprints(api: Api) -> None:
    for blueprint in (
        index.blp,
        health.blp,
        auth.blp,
        members.blp,
        notifications.blp,
        contributions.blp,
        registrations.member_blp,
        registrations.staff_blp,
        link_requests.blp,
        staff.blp,
        member_lookup.blp,
        claims.blp,
        integration.blp,
        reference.blp,
        rules.blp,
        broadcasts.blp,
        conversations.member_blp,
        conversations.staff_blp,
        conversations.canned_blp,
        office_calendar.blp,
        payments.member_blp,
        payments.callback_blp,
        payments.staff_blp,
        payments.core_blp,
        staff_admin.blp,
        field.blp,
        cards.member_blp,
        cards.cards_blp,
        cards.staff_blp,
        delivery.blp,
        sms_gateway.blp,
    ):
        api.register_blueprint(blueprint)
