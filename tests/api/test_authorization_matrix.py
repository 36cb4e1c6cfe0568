"""The authorization matrix: every route of the URL map, called as each of eight principals, against one table.

``EXPECTED`` has one row per route, keyed by ``(method, rule)`` exactly as ``app.url_map`` spells it, and one
exact HTTP status per principal, in the order of ``PRINCIPALS``:

    anon           no token
    member_a       a registered member of the Chanthabouly office (D0101), who owns the objects in the paths
    member_b       a registered member of the Pakse office (D1601), calling with member A's ids
    officer        an officer of D0101, member A's office
    other_officer  an officer of D1601
    ops, admin     central staff
    core           the LSSO core system's client (client credentials)

Path parameters name member A's objects (A's conversation, attachment, device, notification, registration
application and claim, a broadcast A is in the audience of, D0101's canned replies and working hours, a
holiday), so member B and the other office's officer must get 404 there, never 200 nor a 403 that says the
object exists. Writing routes are sent a valid body, so an allowed principal gets a real 2xx.

Each cell is independent of the others:

- on each route the cells expected to be refused run first, so every refusal is checked against an object
  nobody has changed yet;
- a route that changes an object's state gets an object in the state it needs (a draft to submit, a broadcast
  awaiting approval to approve, ...), and where two principals may both change it (registration decisions),
  each allowed principal decides its own application (``OWN_OBJECTS``);
- the routes that move a member's account through registration (apply, correct and resubmit, ask for a link
  code, link a member number, file a link request) cannot succeed for an already registered member, so
  member_a and member_b call them as stand-in accounts of their own office in the state the route needs
  (``STAND_IN_ROUTES``); records to link are loaded through the core system's register import;
- logout and PIN change are called with a fresh sign-in of each principal, and PIN change runs last (it ends
  every sign-in of the member).

To add a route: add its row to ``EXPECTED`` (``test_the_table_has_one_row_per_route`` fails until you do, and
when a row's route is gone). If its path has a parameter name not in ``PATH_OBJECTS``, build that object in
``build_world`` and map the name; if it needs a body or a query string, add it to ``PAYLOADS``.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from lsso_mobile import create_app
from lsso_mobile import runtime as runtime_module
from lsso_mobile.config import Settings
from lsso_mobile.models import Member, StaffRole
from lsso_mobile.services.accounts import create_integration_client, create_staff_user
from tests.api.test_errors_and_limits import CONSOLE_ENDPOINTS, UNDECLARED_OK
from tests.conftest import STAFF_PASSWORD, office_id
from tests.conftest import office_id as office_id_of
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.messaging_support import png_bytes
from tests.sms_support import WEBHOOK_SECRET
from tests.support import PIN, SmsGateway, application_form, bearer, request_code, sign_up, staff_sign_in, wait_until

Key = tuple[str, str]
Row = tuple[int, int, int, int, int, int, int, int]

PRINCIPALS = ("anon", "member_a", "member_b", "officer", "other_officer", "ops", "admin", "core")
MEMBERS = ("member_a", "member_b")

# fmt: off
EXPECTED: dict[Key, Row] = {
    # columns: anon, member_a, member_b, officer, other_officer, ops, admin, core (PRINCIPALS)
    #                                                                  anon A    B    off  oth  ops  adm  core
    ("GET", "/"):                                                     (200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/health"):                                        (200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/provinces"):                                     (200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/provinces/<string(length=2):province_code>/districts"):
                                                                      (200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/districts/<string(length=4):district_code>/villages"):
                                                                      (200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/offices"):                                       (200, 200, 200, 200, 200, 200, 200, 200),
    # sign-up and sign-in
    ("POST", "/api/v1/auth/otp"):                                     (202, 202, 202, 202, 202, 202, 202, 202),
    ("POST", "/api/v1/auth/signup"):                                  (201, 201, 201, 201, 201, 201, 201, 201),
    ("POST", "/api/v1/auth/login"):                                   (200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/auth/staff/login"):                             (200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/auth/refresh"):                                 (200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/auth/pin/reset"):                               (204, 204, 204, 204, 204, 204, 204, 204),
    ("POST", "/api/v1/integration/token"):                            (200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/auth/logout"):                                  (401, 204, 204, 204, 204, 204, 204, 403),
    ("POST", "/api/v1/auth/pin"):                                     (401, 204, 204, 403, 403, 403, 403, 403),
    # the member's own account
    ("GET", "/api/v1/me"):                                            (401, 200, 200, 403, 403, 403, 403, 403),
    ("PATCH", "/api/v1/me"):                                          (401, 200, 200, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/me/link"):                                      (401, 200, 200, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/me/link/code"):                                 (401, 202, 202, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/link"):                                       (401, 200, 200, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/me/link-request"):                              (401, 201, 201, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/link-request"):                               (401, 200, 200, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/registration"):                               (401, 200, 200, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/me/registration"):                              (401, 201, 201, 403, 403, 403, 403, 403),
    ("PUT", "/api/v1/me/registration"):                               (401, 200, 200, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/contributions/summary"):                      (401, 200, 200, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/contributions"):                              (401, 200, 200, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/contributions/statement"):                    (401, 200, 200, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/claims"):                                     (401, 200, 200, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/payments"):                                   (401, 200, 200, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/me/devices"):                                   (401, 201, 201, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/devices"):                                    (401, 200, 200, 403, 403, 403, 403, 403),
    ("DELETE", "/api/v1/me/devices/<int:device_id>"):                 (401, 204, 404, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/notifications"):                              (401, 200, 200, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/me/notifications/<int:notification_id>/read"):  (401, 200, 404, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/me/notifications/read-all"):                    (401, 200, 200, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/me/notifications/acks"):                        (401, 200, 200, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/me/broadcasts/<int:broadcast_id>/read"):        (401, 200, 404, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/notification-preferences"):                   (401, 200, 200, 403, 403, 403, 403, 403),
    ("PUT", "/api/v1/me/notification-preferences"):                   (401, 200, 200, 403, 403, 403, 403, 403),
    # members write to their office
    ("POST", "/api/v1/conversations"):                                (401, 201, 201, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/conversations"):                                 (401, 200, 200, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/conversations/<int:conversation_id>"):           (401, 200, 404, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/conversations/<int:conversation_id>/messages"):  (401, 200, 404, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/conversations/<int:conversation_id>/messages"): (401, 201, 404, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/conversations/<int:conversation_id>/read"):     (401, 200, 404, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/conversations/attachments"):                    (401, 201, 201, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/conversations/attachments/<int:attachment_id>"): (401, 200, 404, 403, 403, 403, 403, 403),
    # officers work their office's inbox
    ("GET", "/api/v1/staff/conversations"):                           (401, 403, 403, 200, 200, 403, 403, 403),
    ("GET", "/api/v1/staff/conversations/overdue"):                   (401, 403, 403, 200, 200, 403, 403, 403),
    ("GET", "/api/v1/staff/conversations/assignees"):                 (401, 403, 403, 200, 200, 403, 403, 403),
    ("GET", "/api/v1/staff/conversations/<int:conversation_id>"):     (401, 403, 403, 200, 404, 403, 403, 403),
    ("GET", "/api/v1/staff/conversations/<int:conversation_id>/messages"):
                                                                      (401, 403, 403, 200, 404, 403, 403, 403),
    ("POST", "/api/v1/staff/conversations/<int:conversation_id>/assign"):
                                                                      (401, 403, 403, 200, 404, 403, 403, 403),
    ("POST", "/api/v1/staff/conversations/<int:conversation_id>/replies"):
                                                                      (401, 403, 403, 201, 404, 403, 403, 403),
    ("POST", "/api/v1/staff/conversations/<int:conversation_id>/notes"):
                                                                      (401, 403, 403, 201, 404, 403, 403, 403),
    ("POST", "/api/v1/staff/conversations/<int:conversation_id>/resolve"):
                                                                      (401, 403, 403, 200, 404, 403, 403, 403),
    ("POST", "/api/v1/staff/conversations/<int:conversation_id>/reopen"):
                                                                      (401, 403, 403, 200, 404, 403, 403, 403),
    ("POST", "/api/v1/staff/conversations/attachments"):              (401, 403, 403, 201, 201, 403, 403, 403),
    ("GET", "/api/v1/staff/conversations/attachments/<int:attachment_id>"):
                                                                      (401, 403, 403, 200, 404, 403, 403, 403),
    ("GET", "/api/v1/staff/canned-replies"):                          (401, 403, 403, 200, 200, 403, 403, 403),
    ("POST", "/api/v1/staff/canned-replies"):                         (401, 403, 403, 201, 201, 403, 403, 403),
    ("PUT", "/api/v1/staff/canned-replies/<int:canned_id>"):          (401, 403, 403, 200, 404, 403, 403, 403),
    ("DELETE", "/api/v1/staff/canned-replies/<int:canned_id>"):       (401, 403, 403, 204, 404, 403, 403, 403),
    # officers (their office) and admins (every office): claims and registrations
    ("GET", "/api/v1/staff/claims"):                                  (401, 403, 403, 200, 200, 403, 200, 403),
    ("POST", "/api/v1/staff/claims/<int:claim_id>/status"):           (401, 403, 403, 200, 404, 403, 200, 403),
    ("GET", "/api/v1/staff/registrations"):                           (401, 403, 403, 200, 200, 403, 200, 403),
    ("GET", "/api/v1/staff/registrations/<int:application_id>"):      (401, 403, 403, 200, 404, 403, 200, 403),
    ("POST", "/api/v1/staff/registrations/<int:application_id>/decision"):
                                                                      (401, 403, 403, 200, 404, 403, 200, 403),
    ("GET", "/api/v1/staff/link-requests"):                           (401, 403, 403, 200, 200, 403, 200, 403),
    ("GET", "/api/v1/staff/link-requests/<int:link_request_id>"):     (401, 403, 403, 200, 404, 403, 200, 403),
    ("GET", "/api/v1/staff/link-requests/<int:link_request_id>/photo"):
                                                                      (401, 403, 403, 200, 404, 403, 200, 403),
    ("POST", "/api/v1/staff/link-requests/<int:link_request_id>/decision"):
                                                                      (401, 403, 403, 200, 404, 403, 200, 403),
    ("GET", "/api/v1/staff/insured-persons/<string(maxlength=16):member_number>/links"):
                                                                      (401, 403, 403, 200, 404, 403, 200, 403),
    ("POST", "/api/v1/staff/insured-persons/<string(maxlength=16):member_number>/unlink"):
                                                                      (401, 403, 403, 200, 404, 403, 200, 403),
    ("GET", "/api/v1/staff/me"):                                      (401, 403, 403, 200, 200, 200, 200, 403),
    ("GET", "/api/v1/staff/members"):                                 (401, 403, 403, 200, 200, 403, 200, 403),
    ("GET", "/api/v1/staff/members/<int:member_id>"):                 (401, 403, 403, 200, 404, 403, 200, 403),
    # ops write broadcasts, a second ops user approves; admins watch
    ("POST", "/api/v1/staff/broadcasts"):                             (401, 403, 403, 403, 403, 201, 403, 403),
    ("GET", "/api/v1/staff/broadcasts"):                              (401, 403, 403, 403, 403, 200, 200, 403),
    ("POST", "/api/v1/staff/broadcasts/preview"):                     (401, 403, 403, 403, 403, 200, 403, 403),
    ("GET", "/api/v1/staff/broadcasts/<int:broadcast_id>"):           (401, 403, 403, 403, 403, 200, 200, 403),
    ("PUT", "/api/v1/staff/broadcasts/<int:broadcast_id>"):           (401, 403, 403, 403, 403, 200, 403, 403),
    ("POST", "/api/v1/staff/broadcasts/<int:broadcast_id>/submit"):   (401, 403, 403, 403, 403, 200, 403, 403),
    ("POST", "/api/v1/staff/broadcasts/<int:broadcast_id>/approve"):  (401, 403, 403, 403, 403, 200, 403, 403),
    ("POST", "/api/v1/staff/broadcasts/<int:broadcast_id>/reject"):   (401, 403, 403, 403, 403, 200, 403, 403),
    ("POST", "/api/v1/staff/broadcasts/<int:broadcast_id>/cancel"):   (401, 403, 403, 403, 403, 200, 403, 403),
    ("POST", "/api/v1/staff/broadcasts/<int:broadcast_id>/withdraw"): (401, 403, 403, 403, 403, 200, 403, 403),
    ("GET", "/api/v1/staff/broadcasts/<int:broadcast_id>/stats"):     (401, 403, 403, 403, 403, 200, 200, 403),
    # delivery on cheap phones: officers see their office's members, ops and admins all
    ("GET", "/api/v1/staff/broadcasts/<int:broadcast_id>/delivery"):  (401, 403, 403, 403, 403, 200, 200, 403),
    ("GET", "/api/v1/staff/members/<int:member_id>/channel-health"):  (401, 403, 403, 200, 404, 200, 200, 403),
    ("GET", "/api/v1/staff/notifications/<int:notification_id>/delivery"):
                                                                      (401, 403, 403, 200, 404, 200, 200, 403),
    ("GET", "/api/v1/staff/sms/costs"):                               (401, 403, 403, 200, 200, 200, 200, 403),
    # the SMS gateway's webhooks: public, signed with the shared secret (sent signed here, by anyone)
    ("POST", "/api/v1/sms-gateway/delivery-reports"):                 (200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/sms-gateway/inbound"):                          (200, 200, 200, 200, 200, 200, 200, 200),
    # the core system
    ("POST", "/api/v1/integration/insured-persons"):                  (401, 403, 403, 403, 403, 403, 403, 200),
    ("POST", "/api/v1/integration/contributions"):                    (401, 403, 403, 403, 403, 403, 403, 200),
    ("POST", "/api/v1/integration/claims"):                           (401, 403, 403, 403, 403, 403, 403, 200),
    ("POST", "/api/v1/integration/payments"):                         (401, 403, 403, 403, 403, 403, 403, 200),
    # members pay contributions; banks call back; officers take cash and settle reviews; the core reads
    ("GET", "/api/v1/me/dues"):                                       (401, 200, 200, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/me/bills"):                                     (401, 201, 201, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/bills"):                                      (401, 200, 200, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/bills/<int:bill_id>"):                        (401, 200, 404, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/me/bills/<int:bill_id>/cancel"):                (401, 200, 404, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/me/bills/<int:bill_id>/sms"):                   (401, 202, 404, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/bills/<int:bill_id>/qr"):                     (401, 200, 404, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/bills/<int:bill_id>/receipt"):                (401, 200, 404, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/payments/callbacks/<string(maxlength=16):provider>"):
                                                                      (202, 202, 202, 202, 202, 202, 202, 202),
    ("POST", "/api/v1/staff/cash-payments"):                          (401, 403, 403, 201, 404, 403, 403, 403),
    ("POST", "/api/v1/staff/cash-payments/<int:payment_id>/confirm"): (401, 403, 403, 200, 404, 403, 403, 403),
    ("GET", "/api/v1/staff/cash-payments/report"):                    (401, 403, 403, 200, 200, 403, 403, 403),
    ("GET", "/api/v1/staff/payment-reviews"):                         (401, 403, 403, 200, 200, 403, 200, 403),
    ("POST", "/api/v1/staff/payment-reviews/<int:review_id>/resolve"):
                                                                      (401, 403, 403, 200, 404, 403, 200, 403),
    ("GET", "/api/v1/integration/app-payments"):                      (401, 403, 403, 403, 403, 403, 403, 200),
    # admins: rules and office calendars
    ("GET", "/api/v1/admin/scheme-rules"):                            (401, 403, 403, 403, 403, 403, 200, 403),
    ("PUT", "/api/v1/admin/scheme-rules/<string(maxlength=32):scheme>"):
                                                                      (401, 403, 403, 403, 403, 403, 200, 403),
    ("GET", "/api/v1/admin/eligibility-rules"):                       (401, 403, 403, 403, 403, 403, 200, 403),
    ("PUT", "/api/v1/admin/eligibility-rules/<string(maxlength=32):scheme>/<string(maxlength=32):benefit_type>"):
                                                                      (401, 403, 403, 403, 403, 403, 200, 403),
    ("GET", "/api/v1/admin/working-hours"):                           (401, 403, 403, 403, 403, 403, 200, 403),
    ("PUT", "/api/v1/admin/working-hours"):                           (401, 403, 403, 403, 403, 403, 200, 403),
    ("GET", "/api/v1/admin/offices/<string(maxlength=16):office_code>/working-hours"):
                                                                      (401, 403, 403, 403, 403, 403, 200, 403),
    ("PUT", "/api/v1/admin/offices/<string(maxlength=16):office_code>/working-hours"):
                                                                      (401, 403, 403, 403, 403, 403, 200, 403),
    ("GET", "/api/v1/admin/holidays"):                                (401, 403, 403, 403, 403, 403, 200, 403),
    ("POST", "/api/v1/admin/holidays"):                               (401, 403, 403, 403, 403, 403, 201, 403),
    ("DELETE", "/api/v1/admin/holidays/<int:holiday_id>"):            (401, 403, 403, 403, 403, 403, 204, 403),
    # every staff user: their own password and second factor
    ("POST", "/api/v1/staff/me/password"):                            (401, 403, 403, 204, 204, 204, 204, 403),
    ("POST", "/api/v1/staff/me/second-factor"):                       (401, 403, 403, 201, 201, 201, 201, 403),
    ("POST", "/api/v1/staff/me/second-factor/confirm"):               (401, 403, 403, 204, 204, 204, 204, 403),
    # admins: staff accounts, the audit trail, the history of rule changes
    ("GET", "/api/v1/admin/staff"):                                   (401, 403, 403, 403, 403, 403, 200, 403),
    ("POST", "/api/v1/admin/staff"):                                  (401, 403, 403, 403, 403, 403, 201, 403),
    ("GET", "/api/v1/admin/staff/<int:staff_id>"):                    (401, 403, 403, 403, 403, 403, 200, 403),
    ("PUT", "/api/v1/admin/staff/<int:staff_id>"):                    (401, 403, 403, 403, 403, 403, 200, 403),
    ("POST", "/api/v1/admin/staff/<int:staff_id>/disable"):           (401, 403, 403, 403, 403, 403, 200, 403),
    ("POST", "/api/v1/admin/staff/<int:staff_id>/enable"):            (401, 403, 403, 403, 403, 403, 200, 403),
    ("POST", "/api/v1/admin/staff/<int:staff_id>/unlock"):            (401, 403, 403, 403, 403, 403, 200, 403),
    ("POST", "/api/v1/admin/staff/<int:staff_id>/reset-password"):    (401, 403, 403, 403, 403, 403, 200, 403),
    ("PUT", "/api/v1/admin/staff/<int:staff_id>/second-factor"):      (401, 403, 403, 403, 403, 403, 200, 403),
    ("DELETE", "/api/v1/admin/staff/<int:staff_id>/second-factor"):   (401, 403, 403, 403, 403, 403, 200, 403),
    ("GET", "/api/v1/admin/audit-events"):                            (401, 403, 403, 403, 403, 403, 200, 403),
    ("GET", "/api/v1/admin/audit-events.csv"):                        (401, 403, 403, 403, 403, 403, 200, 403),
    ("GET", "/api/v1/admin/rule-changes"):                            (401, 403, 403, 403, 403, 403, 200, 403),
    # field registration (promoters are checked in tests/api/test_field_registration_and_cards.py)
    ("PUT", "/api/v1/field/uploads/<string(maxlength=64):device_photo_id>"):
                                                                      (401, 403, 403, 200, 200, 403, 403, 403),
    ("GET", "/api/v1/field/photos/<int:photo_id>"):                   (401, 403, 403, 200, 404, 403, 200, 403),
    ("POST", "/api/v1/field/registrations/batch"):                    (401, 403, 403, 200, 200, 403, 403, 403),
    ("GET", "/api/v1/field/registrations"):                           (401, 403, 403, 200, 200, 403, 200, 403),
    ("GET", "/api/v1/field/registrations/<int:application_id>"):      (401, 403, 403, 200, 404, 403, 200, 403),
    ("POST", "/api/v1/field/registrations/<int:application_id>/confirm"):
                                                                      (401, 403, 403, 200, 404, 403, 403, 403),
    ("POST", "/api/v1/field/registrations/<int:application_id>/attest"):
                                                                      (401, 403, 403, 200, 404, 403, 403, 403),
    ("POST", "/api/v1/field/confirmations"):                          (200, 200, 200, 200, 200, 200, 200, 200),
    # member cards
    ("GET", "/api/v1/me/card"):                                       (401, 200, 200, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/card/qr.png"):                                (401, 200, 200, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/card/qr.svg"):                                (401, 200, 200, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/card/card.pdf"):                              (401, 200, 200, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/cards/keys"):                                    (200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/cards/revoked"):                                 (200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/cards/verify"):                                 (401, 403, 403, 200, 200, 403, 200, 200),
    ("GET", "/api/v1/cards/<string(length=16):card_id>/photo"):       (401, 403, 403, 200, 200, 403, 200, 200),
    ("GET", "/api/v1/staff/insured-persons/<string(maxlength=16):member_number>/card"):
                                                                      (401, 403, 403, 200, 404, 403, 200, 403),
    ("GET", "/api/v1/staff/insured-persons/<string(maxlength=16):member_number>/card.pdf"):
                                                                      (401, 403, 403, 200, 404, 403, 200, 403),
    ("POST", "/api/v1/staff/insured-persons/<string(maxlength=16):member_number>/card/revoke"):
                                                                      (401, 403, 403, 200, 404, 403, 200, 403),
}
# fmt: on


# -- which routes the table must cover ------------------------------------------------------------------


def route_keys(app: Flask) -> set[Key]:
    """Every (method, rule) of the URL map, without HEAD/OPTIONS and the non-API routes."""
    keys: set[Key] = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDECLARED_OK or rule.endpoint.startswith(CONSOLE_ENDPOINTS):
            continue
        keys |= {(method, rule.rule) for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    return keys


def table_differences(app: Flask, table: dict[Key, Row]) -> tuple[set[Key], set[Key]]:
    """(routes with no row, rows with no route)."""
    routes = route_keys(app)
    return routes - set(table), set(table) - routes


def test_the_table_has_one_row_per_route(app: Flask) -> None:
    missing, stale = table_differences(app, EXPECTED)
    assert not missing, f"routes with no row in EXPECTED: {sorted(missing)}"
    assert not stale, f"rows in EXPECTED for routes that no longer exist: {sorted(stale)}"
    malformed = [
        key
        for key, row in EXPECTED.items()
        if len(row) != len(PRINCIPALS) or not all(isinstance(c, int) and 100 <= c <= 599 for c in row)
    ]
    assert malformed == []


def test_a_new_route_without_a_row_is_reported(app: Flask, settings: Settings) -> None:
    """The check above can fail: a copy of the app with one more route has a missing row, and a row for a
    route that does not exist is stale."""
    copy = create_app(settings)
    try:

        @copy.route("/api/v1/me/new-thing/<int:thing_id>", methods=["GET"])
        def new_thing(thing_id: int) -> str:
            return "x"

        assert table_differences(copy, EXPECTED) == ({("GET", "/api/v1/me/new-thing/<int:thing_id>")}, set())
        gone: Key = ("DELETE", "/api/v1/me/old-thing")
        assert table_differences(app, {**EXPECTED, gone: (401, 401, 401, 401, 401, 401, 401, 401)}) == (set(), {gone})
    finally:
        copy.extensions["lsso_runtime"].close()
        runtime_module.install(app.extensions["lsso_runtime"])  # create_app installed the copy's runtime


# -- the world: member A's objects and everything the routes need -----------------------------------------

OPS2 = "ops.second"
OFFICER2 = "officer.chanthabouly.second"  # the second pair of eyes on cash
NEW_PIN = "246802"
STATEMENT_YEAR = 2025
FORM_D0101 = application_form()  # Chanthabouly (0101): reviewed by D0101
FORM_D1601 = application_form(
    province_code="16",
    district_code="1601",
    village_code="16010001",  # Pakse
    national_id="LA-1601-654321",
    name_lo="ທ້າວ ຄຳຫຼ້າ ພົມມະຈັນ",
    name_latin="Khamla Phommachanh",
    sex="male",
)
NOTICE = {
    "title_lo": "ແຈ້ງການ",
    "body_lo": "ຫ້ອງການປິດວັນຈັນ",
    "title_en": "Notice",
    "body_en": "The office is closed on Monday",
    "category": "news",
}
NOBODY = {"provinces": ["06"]}
LINK_BIRTH_DATE = "1990-02-03"


def fresh_id(form: dict[str, Any]) -> dict[str, Any]:
    """The form with a national ID nobody has used: one ID is insured once."""
    return {**form, "national_id": f"LA-{uuid.uuid4().hex[:12]}"}  # an audience none of the world's members is in


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, object]) -> dict[str, object]:
    """The world asks for some forty-five SMS codes from the one test address; one network may ask for 30."""
    return {**settings_overrides, "otp_sends_per_ip": 1000, "sms_webhook_secret": WEBHOOK_SECRET}


@dataclass
class World:
    """Who calls (headers per principal) and the named objects the paths and bodies refer to."""

    client: FlaskClient
    gateway: SmsGateway
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=dict)
    stand_ins: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    phone_numbers: int = 0

    def new_phone(self) -> str:
        self.phone_numbers += 1
        return f"+8562055577{self.phone_numbers:03d}"

    def new_member(self, name: str) -> dict[str, str]:
        phone = self.new_phone()
        self.objects[f"phone:{name}"] = phone
        return bearer(sign_up(self.client, self.gateway, phone)["access_token"])

    def per(self, name: str, who: str) -> Any:
        """A per-principal object; principals that are refused before the body is read borrow member A's."""
        return self.objects.get(f"{name}:{who}", self.objects.get(f"{name}:member_a"))

    def fresh_headers(self, who: str) -> dict[str, str]:
        """A new sign-in, for routes that end the caller's sign-in."""
        if who == "anon":
            return {}
        if who in MEMBERS:
            body = {"phone": self.objects[f"phone:{who}"], "pin": PIN}
            return bearer(expect(self.client.post("/api/v1/auth/login", json=body), 200, who)["access_token"])
        if who == "core":
            return bearer(
                expect(self.client.post("/api/v1/integration/token", json=self.objects["core_credentials"]), 200, who)[
                    "access_token"
                ]
            )
        return bearer(staff_sign_in(self.client, self.objects[f"username:{who}"], STAFF_PASSWORD)["access_token"])


def expect(response: TestResponse, status: int, what: str) -> Any:
    """Arranging the world goes through the API too; any surprise there is a setup error, not a matrix cell."""
    assert response.status_code == status, f"setup ({what}): {response.status_code} {response.get_json(silent=True)}"
    return response.get_json(silent=True)


def contribution_record(member_number: str) -> dict[str, Any]:
    return {
        "source_id": f"matrix-{member_number}-2025-05",
        "member_number": member_number,
        "period": "2025-05",
        "scheme": "voluntary",
        "insurable_earnings": 2_000_000,
        "employee_share": 180_000,
        "employer_share": 0,
        "total": 180_000,
        "status": "paid",
        "paid_date": "2025-05-18",
        "payment_channel": "bank",
        "receipt_reference": "RC-MATRIX-1",
    }


def claim_record(member_number: str) -> dict[str, Any]:
    return {
        "source_id": "matrix-claim-a",
        "member_number": member_number,
        "benefit_type": "sickness",
        "status": "received",
        "amount_claimed": 600_000,
        "amount_approved": None,
        "reason": None,
    }


PAYMENT_RECORD = {
    "source_id": "matrix-payment-a",
    "claim_source_id": "matrix-claim-a",
    "period": "2025-05",
    "amount": 250_000,
    "paid_date": "2025-05-30",
    "channel": "bank",
}


def build_world(client: FlaskClient, gateway: SmsGateway, db: Session, staff: dict[str, str]) -> World:
    world = World(client, gateway)
    objects = world.objects
    settings = runtime_module.current().settings
    create_staff_user(db, settings, OPS2, STAFF_PASSWORD, StaffRole.OPS, "Second ops", None)
    create_staff_user(
        db, settings, OFFICER2, STAFF_PASSWORD, StaffRole.OFFICER, "Second officer", office_id(db, "D0101")
    )
    core_client, secret = create_integration_client(db, settings, "LSSO core system")
    db.commit()

    # -- the principals
    world.headers["anon"] = {}
    for who in ("officer", "other_officer", "ops", "admin"):
        objects[f"username:{who}"] = staff[who]
        world.headers[who] = bearer(staff_sign_in(client, staff[who], STAFF_PASSWORD)["access_token"])
    ops2 = bearer(staff_sign_in(client, OPS2, STAFF_PASSWORD)["access_token"])
    objects["core_credentials"] = {"client_id": core_client.client_id, "client_secret": secret}
    world.headers["core"] = world.fresh_headers("core")
    officer, other_officer, ops, admin, core = (
        world.headers[k] for k in ("officer", "other_officer", "ops", "admin", "core")
    )

    def decide(application_id: int, decision: str, by: dict[str, str]) -> dict[str, Any]:
        reason = None if decision == "approve" else "Please add your village."
        return expect(
            client.post(
                f"/api/v1/staff/registrations/{application_id}/decision",
                json={"decision": decision, "reason": reason},
                headers=by,
            ),
            200,
            "decision",
        )

    def apply(headers: dict[str, str], form: dict[str, Any]) -> int:
        return expect(client.post("/api/v1/me/registration", json=form, headers=headers), 201, "apply")["id"]

    # Member A applies in Chanthabouly and the D0101 officer approves: A's office is D0101 from then on.
    member_a = world.headers["member_a"] = world.new_member("member_a")
    objects["application"] = apply(member_a, FORM_D0101)
    member_number_a = decide(objects["application"], "approve", officer)["member_number"]
    # Member B does the same in Pakse (D1601).
    member_b = world.headers["member_b"] = world.new_member("member_b")
    decide(apply(member_b, FORM_D1601), "approve", other_officer)
    for who, office in (("member_a", "D0101"), ("member_b", "D1601")):
        profile = expect(client.get("/api/v1/me", headers=world.headers[who]), 200, who)
        assert profile["office"]["code"] == office and profile["member_number"], profile
    objects["member"] = db.scalar(select(Member.id).where(Member.phone == objects["phone:member_a"]))

    # A's conversation with D0101, carrying A's attachment; A's device; A's record from the core system.
    upload = {"file": (io.BytesIO(png_bytes()), "photo.png", "image/png")}
    objects["attachment"] = expect(
        client.post(
            "/api/v1/conversations/attachments", data=upload, content_type="multipart/form-data", headers=member_a
        ),
        201,
        "upload",
    )["id"]
    start = {
        "category": "contributions",
        "subject": "May contribution",
        "body": "Is my May contribution in?",
        "attachment_ids": [objects["attachment"]],
        "idempotency_key": str(uuid.uuid4()),
    }
    conversation = expect(client.post("/api/v1/conversations", json=start, headers=member_a), 201, "start")
    objects["conversation"] = conversation["conversation"]["id"]
    assert conversation["conversation"]["office_code"] == "D0101"
    objects["device"] = expect(
        client.post(
            "/api/v1/me/devices",
            headers=member_a,
            json={"token": "tok-matrix-member-a-phone", "platform": "android", "app_version": "1.0.0"},
        ),
        201,
        "device",
    )["id"]
    objects["member_number_a"] = member_number_a
    for kind, record in (
        ("contributions", contribution_record(member_number_a)),
        ("claims", claim_record(member_number_a)),
        ("payments", PAYMENT_RECORD),
    ):
        imported = expect(
            client.post(f"/api/v1/integration/{kind}", json={"records": [record]}, headers=core), 200, kind
        )
        assert imported["accepted"] == 1 and imported["rejected"] == [], imported
    objects["claim"] = expect(client.get("/api/v1/me/claims", headers=member_a), 200, "claims")[0]["id"]

    # Broadcasts, each in the state its route needs; "seen" goes to Chanthabouly (A), not to Pakse (B).
    def broadcast(
        author: dict[str, str], audience: dict[str, Any], submit: bool = False, approver: dict[str, str] | None = None
    ) -> int:
        created = expect(
            client.post("/api/v1/staff/broadcasts", json={**NOTICE, "audience": audience}, headers=author),
            201,
            "broadcast",
        )
        url = f"/api/v1/staff/broadcasts/{created['id']}"
        if submit or approver:
            expect(client.post(f"{url}/submit", headers=author), 200, "submit")
        if approver:
            expect(client.post(f"{url}/approve", headers=approver), 200, "approve")
            assert expect(client.get(url, headers=author), 200, "broadcast")["status"] in ("sending", "sent")
        return created["id"]

    objects["broadcast_seen"] = broadcast(ops, {"districts": ["0101"]}, approver=ops2)
    objects["broadcast_to_withdraw"] = broadcast(ops, NOBODY, approver=ops2)
    for name in ("broadcast_to_edit", "broadcast_to_submit", "broadcast_to_cancel"):
        objects[name] = broadcast(ops, NOBODY)
    for name in ("broadcast_to_approve", "broadcast_to_reject"):
        objects[name] = broadcast(ops2, NOBODY, submit=True)  # ops approves or rejects what ops2 wrote

    def inbox(headers: dict[str, str]) -> list[dict[str, Any]]:
        return expect(client.get("/api/v1/me/notifications", headers=headers), 200, "inbox")["items"]

    items = inbox(member_a)
    assert ("broadcast", objects["broadcast_seen"]) in {(i["kind"], i["id"]) for i in items}
    assert ("broadcast", objects["broadcast_seen"]) not in {(i["kind"], i["id"]) for i in inbox(member_b)}
    objects["notification"] = next(i["id"] for i in items if i["kind"] == "notice")

    # D0101's canned replies, a holiday, and the rules as shipped (the admin puts them back unchanged).
    for name in ("canned_to_edit", "canned_to_delete"):
        objects[name] = expect(
            client.post(
                "/api/v1/staff/canned-replies",
                headers=officer,
                json={"title": name, "body_lo": "ສະບາຍດີ", "body_en": "Hello"},
            ),
            201,
            "canned",
        )["id"]
    objects["holiday"] = expect(
        client.post(
            "/api/v1/admin/holidays",
            headers=admin,
            json={"day": "2031-03-08", "name_lo": "ວັນແມ່ຍິງ", "name_en": "Women's Day"},
        ),
        201,
        "holiday",
    )["id"]
    eligibility = expect(client.get("/api/v1/admin/eligibility-rules", headers=admin), 200, "rules")[0]
    objects["scheme"], objects["benefit_type"] = eligibility["scheme"], eligibility["benefit_type"]
    objects["eligibility_rule"] = {
        k: v for k, v in eligibility.items() if k not in ("scheme", "benefit_type", "updated_at")
    }
    scheme_rule = next(
        r
        for r in expect(client.get("/api/v1/admin/scheme-rules", headers=admin), 200, "rules")
        if r["scheme"] == objects["scheme"]
    )
    objects["scheme_rule"] = {k: v for k, v in scheme_rule.items() if k not in ("scheme", "updated_at")}
    objects.update(office_code="D0101", province_code="01", district_code="0101")

    # Payments: A's bills for the next months (A owes no arrears): one open, one to cancel, one paid in cash,
    # one whose cash awaits the officer's confirmation, and two cash payments in review (their bills were
    # cancelled before the confirmation), one for the officer and one for the admin to settle.
    officer2 = bearer(staff_sign_in(client, OFFICER2, STAFF_PASSWORD)["access_token"])

    def first_free_month(headers: dict[str, str]) -> str:
        dues = expect(client.get("/api/v1/me/dues", headers=headers), 200, "dues")["months"]
        return next(m["period"] for m in dues if m["open_bill_number"] is None)

    def bill_of_a() -> dict[str, Any]:
        body = {"months": [first_free_month(member_a)]}
        return expect(client.post("/api/v1/me/bills", json=body, headers=member_a), 201, "bill")

    def cash(bill: dict[str, Any]) -> int:
        body = {"bill_number": bill["number"], "amount": bill["amount"]}
        return expect(client.post("/api/v1/staff/cash-payments", json=body, headers=officer2), 201, "cash")["id"]

    objects["first_free_month"] = first_free_month
    objects["bill"] = bill_of_a()
    objects["bill_id"] = objects["bill"]["id"]
    objects["bill_to_cancel"] = bill_of_a()["id"]
    paid = bill_of_a()
    expect(client.post(f"/api/v1/staff/cash-payments/{cash(paid)}/confirm", headers=officer), 200, "paid in cash")
    objects["paid_bill"] = paid["id"]
    objects["payment_id"] = cash(bill_of_a())
    for who in ("officer", "admin"):
        bill = bill_of_a()
        payment = cash(bill)
        expect(client.post(f"/api/v1/me/bills/{bill['id']}/cancel", headers=member_a), 200, "cancel")
        expect(client.post(f"/api/v1/staff/cash-payments/{payment}/confirm", headers=officer), 200, "confirm")
    reviews = expect(client.get("/api/v1/staff/payment-reviews", headers=officer), 200, "reviews")["items"]
    assert [r["reason"] for r in reviews] == ["bill_cancelled", "bill_cancelled"], reviews
    objects["review_for_officer"], objects["review_for_admin"] = (r["id"] for r in reviews)
    objects["review_id"] = objects["review_for_officer"]
    objects["provider"] = settings.payment_provider
    objects["callback_secret"] = settings.payment_callback_secret
    # Staff administration: an account for the admin routes to act on; the own-account routes that end the
    # caller's other sign-ins (password) or change how it signs in (second factor) run as a stand-in user of
    # each staff principal's role and office, so the principals' own sign-ins are untouched.
    settings_ = runtime_module.current().settings
    objects["staff_target"] = create_staff_user(
        db, settings_, "matrix.target", STAFF_PASSWORD, StaffRole.OFFICER, "Target", office_id_of(db, "D0101")
    ).id
    for who, role, office in (
        ("officer", StaffRole.OFFICER, "D0101"),
        ("other_officer", StaffRole.OFFICER, "D1601"),
        ("ops", StaffRole.OPS, None),
        ("admin", StaffRole.ADMIN, None),
    ):
        for purpose in STAFF_STAND_IN_ROUTES.values():
            username = f"standin.{purpose}.{who}"
            create_staff_user(
                db, settings_, username, STAFF_PASSWORD, role, username, office_id_of(db, office) if office else None
            )
            db.commit()
            world.stand_ins[(purpose, who)] = bearer(staff_sign_in(client, username, STAFF_PASSWORD)["access_token"])
        begun = client.post("/api/v1/staff/me/second-factor", headers=world.stand_ins[("confirm_totp", who)])
        objects[f"totp_secret:{who}"] = expect(begun, 201, "second factor")["secret"]

    # Registration decisions: the officer and the admin each decide a fresh application of D0101.
    for who in ("officer", "admin"):
        objects[f"application_for_{who}"] = apply(world.new_member(f"applicant_for_{who}"), fresh_id(FORM_D0101))

    # Records of the register, loaded by the core system: (member number, district, phone on record or None).
    records = iter(range(10_000))

    def insured(district: str, phone: str | None) -> str:
        number = f"{district[:2]}{next(records):08d}"
        record = {
            "member_number": number,
            "name_lo": "ທ ທົດສອບ",
            "name_latin": "Link Test",
            "date_of_birth": LINK_BIRTH_DATE,
            "sex": "male",
            "national_id": f"LINK-{number}",
            "province_code": district[:2],
            "district_code": district,
            "scheme": "compulsory",
            "phone": phone,
        }
        loaded = expect(
            client.post("/api/v1/integration/insured-persons", json={"records": [record]}, headers=core),
            200,
            "register",
        )
        assert loaded["created"] == 1, loaded
        return number

    def id_photo(headers: dict[str, str]) -> int:
        upload = {"file": (io.BytesIO(png_bytes(noise=True)), "id-card.png", "image/png")}
        return expect(
            client.post(
                "/api/v1/conversations/attachments", data=upload, content_type="multipart/form-data", headers=headers
            ),
            201,
            "id photo",
        )["id"]

    def file_link_request(headers: dict[str, str], district: str) -> int:
        body = {
            "member_number": insured(district, None),
            "date_of_birth": LINK_BIRTH_DATE,
            "id_photo_attachment_id": id_photo(headers),
        }
        return expect(client.post("/api/v1/me/link-request", json=body, headers=headers), 201, "link request")["id"]

    # Link requests: stand-ins of A (D0101, read by officers) and B (D1601) have filed one; the officer and
    # the admin each decide one of D0101.
    for who, district in (("member_a", "0101"), ("member_b", "1601")):
        filing = world.stand_ins[("link_request_filed", who)] = world.new_member(f"link_request_filed:{who}")
        objects[f"link_request_of:{who}"] = file_link_request(filing, district)
    objects["link_request"] = objects["link_request_of:member_a"]
    for who in ("officer", "admin"):
        objects[f"link_request_for_{who}"] = file_link_request(world.new_member(f"link_request_for_{who}"), "0101")
        # and a linked record of D0101 each, to unlink
        objects[f"unlink_for_{who}"] = decide(
            apply(world.new_member(f"unlinked_by_{who}"), fresh_id(FORM_D0101)), "approve", officer
        )["member_number"]

    # Stand-ins of A (D0101) and B (D1601) for apply, correct-and-resubmit and the link routes.
    for who, form, office_officer in (("member_a", FORM_D0101, officer), ("member_b", FORM_D1601, other_officer)):
        form = fresh_id(form)
        district = form["district_code"]
        world.stand_ins[("apply", who)] = world.new_member(f"apply:{who}")
        resubmitting = world.stand_ins[("resubmit", who)] = world.new_member(f"resubmit:{who}")
        decide(apply(resubmitting, form), "request_info", office_officer)
        objects[f"form:{who}"] = form
        # Linking with a code sent to the phone on record: one stand-in asks for a code, another links with one.
        world.stand_ins[("link_code", who)] = world.new_member(f"link_code:{who}")
        objects[f"link_code_number:{who}"] = insured(district, world.new_phone())
        linking = world.stand_ins[("link", who)] = world.new_member(f"link:{who}")
        phone_on_record = world.new_phone()
        objects[f"link_number:{who}"] = number = insured(district, phone_on_record)
        before = gateway.count_to(phone_on_record)
        expect(
            client.post(
                "/api/v1/me/link/code",
                json={"member_number": number, "date_of_birth": LINK_BIRTH_DATE},
                headers=linking,
            ),
            202,
            "link code",
        )
        wait_until(lambda phone=phone_on_record, n=before: gateway.count_to(phone) > n, message="the link code")
        objects[f"link_code:{who}"] = gateway.last_code(phone_on_record)
        # Linking through an officer: a record without a phone, and an uploaded ID photo.
        requesting = world.stand_ins[("link_request", who)] = world.new_member(f"link_request:{who}")
        objects[f"link_request_number:{who}"] = insured(district, None)
        objects[f"id_photo:{who}"] = id_photo(requesting)

    # Field registration: the D0101 officer registers people in the field (promoters have their own test).
    field_photo = expect(
        client.put(
            "/api/v1/field/uploads/matrix-photo",
            data={"file": (io.BytesIO(png_bytes(5, 4)), "id.png", "image/png")},
            content_type="multipart/form-data",
            headers=officer,
        ),
        200,
        "field photo",
    )["id"]
    objects["field_photo"] = field_photo
    objects["device_photo"] = "matrix-photo-put"
    expect(
        client.put(
            "/api/v1/field/uploads/matrix-batch-photo",
            data={"file": (io.BytesIO(png_bytes(7, 4)), "id.png", "image/png")},
            content_type="multipart/form-data",
            headers=officer,
        ),
        200,
        "field photo",
    )

    def field_batch(records: list[dict[str, Any]]) -> list[int]:
        answer = expect(
            client.post("/api/v1/field/registrations/batch", json={"records": records}, headers=officer), 200, "batch"
        )
        assert answer["created"] == len(records), answer
        return [r["application_id"] for r in answer["results"]]

    def field_record(name: str, phone: str | None) -> dict[str, Any]:
        upload = {"file": (io.BytesIO(png_bytes(6, 3, noise=True)), "id.png", "image/png")}
        expect(
            client.put(
                f"/api/v1/field/uploads/ph-{name}", data=upload, content_type="multipart/form-data", headers=officer
            ),
            200,
            "field photo",
        )
        return {**fresh_id(FORM_D0101), "device_record_id": f"rec-{name}", "phone": phone, "photo_ids": [f"ph-{name}"]}

    to_confirm_phone = world.new_phone()
    people = {who: world.new_phone() for who in PRINCIPALS}
    records = [field_record("view", None), field_record("confirm", to_confirm_phone), field_record("attest", None)]
    records += [field_record("card", None)] + [field_record(f"person-{who}", people[who]) for who in PRINCIPALS]
    records[0]["photo_ids"] = ["matrix-photo"]
    ids = field_batch(records)
    objects["field_application"], objects["field_to_confirm"], objects["field_to_attest"] = ids[:3]
    wait_until(lambda: all(gateway.count_to(p) for p in [to_confirm_phone, *people.values()]), message="codes")
    objects["field_code"] = gateway.last_code(to_confirm_phone)
    for who, phone in people.items():
        objects[f"person_phone:{who}"], objects[f"person_code:{who}"] = phone, gateway.last_code(phone)
    note = {"note": "Met in person."}
    expect(client.post(f"/api/v1/field/registrations/{ids[3]}/attest", json=note, headers=officer), 200, "attest")
    card_number = decide(ids[3], "approve", officer)["member_number"]
    objects["photo_card"] = expect(
        client.get(f"/api/v1/staff/insured-persons/{card_number}/card", headers=officer), 200, "card"
    )["card_id"]
    objects["card_token_a"] = expect(client.get("/api/v1/me/card", headers=member_a), 200, "card")["token"]

    # The public routes: a phone, code, member or refresh token of each principal's own.
    world.new_member("login")
    for who in PRINCIPALS:
        objects[f"otp_phone:{who}"] = world.new_phone()
        objects[f"signup_phone:{who}"] = phone = world.new_phone()
        objects[f"signup_code:{who}"] = request_code(client, gateway, phone)
        world.new_member(f"reset:{who}")
        objects[f"reset_code:{who}"] = request_code(client, gateway, objects[f"phone:reset:{who}"], purpose="pin_reset")
        objects[f"refresh:{who}"] = expect(
            client.post("/api/v1/auth/login", json={"phone": objects["phone:login"], "pin": PIN}), 200, "login"
        )["refresh_token"]
    return world


# -- how each route is called --------------------------------------------------------------------------

Payload = Callable[[World, str], dict[str, Any]]


def json_body(body: dict[str, Any]) -> Payload:
    return lambda world, who: {"json": body}


def png_upload(world: World, who: str) -> dict[str, Any]:
    return {
        "data": {"file": (io.BytesIO(png_bytes()), "photo.png", "image/png")},
        "content_type": "multipart/form-data",
    }


def signed_by_gateway(payload: Callable[[str], dict[str, Any]]) -> Payload:
    """A webhook call as the SMS gateway makes it: the body and its signature headers."""

    def build(world: World, who: str) -> dict[str, Any]:
        headers, body = FakeSmsGateway.signed(payload(who), WEBHOOK_SECRET)
        environ = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
        return {"data": body, "content_type": "application/json", "environ_base": environ}

    return build


def new_key() -> str:
    return str(uuid.uuid4())


# Path parameters by name: member A's objects, D0101's, or what the route needs (see ROUTE_OBJECTS).
PATH_OBJECTS = {
    "conversation_id": "conversation",
    "attachment_id": "attachment",
    "device_id": "device",
    "notification_id": "notification",
    "broadcast_id": "broadcast_seen",
    "application_id": "application",
    "member_id": "member",
    "claim_id": "claim",
    "canned_id": "canned_to_edit",
    "holiday_id": "holiday",
    "link_request_id": "link_request",
    "member_number": "member_number_a",
    "office_code": "office_code",
    "province_code": "province_code",
    "district_code": "district_code",
    "scheme": "scheme",
    "benefit_type": "benefit_type",
    "bill_id": "bill_id",
    "payment_id": "payment_id",
    "review_id": "review_id",
    "provider": "provider",
    "staff_id": "staff_target",
    "device_photo_id": "device_photo",
    "photo_id": "field_photo",
    "card_id": "photo_card",
}
BROADCAST = "/api/v1/staff/broadcasts/<int:broadcast_id>"
ROUTE_OBJECTS: dict[Key, dict[str, str]] = {
    ("PUT", BROADCAST): {"broadcast_id": "broadcast_to_edit"},
    ("POST", f"{BROADCAST}/submit"): {"broadcast_id": "broadcast_to_submit"},
    ("POST", f"{BROADCAST}/approve"): {"broadcast_id": "broadcast_to_approve"},
    ("POST", f"{BROADCAST}/reject"): {"broadcast_id": "broadcast_to_reject"},
    ("POST", f"{BROADCAST}/cancel"): {"broadcast_id": "broadcast_to_cancel"},
    ("POST", f"{BROADCAST}/withdraw"): {"broadcast_id": "broadcast_to_withdraw"},
    ("DELETE", "/api/v1/staff/canned-replies/<int:canned_id>"): {"canned_id": "canned_to_delete"},
    ("POST", "/api/v1/me/bills/<int:bill_id>/cancel"): {"bill_id": "bill_to_cancel"},
    ("GET", "/api/v1/me/bills/<int:bill_id>/receipt"): {"bill_id": "paid_bill"},
    ("GET", "/api/v1/field/registrations/<int:application_id>"): {"application_id": "field_application"},
    ("POST", "/api/v1/field/registrations/<int:application_id>/confirm"): {"application_id": "field_to_confirm"},
    ("POST", "/api/v1/field/registrations/<int:application_id>/attest"): {"application_id": "field_to_attest"},
}
# Where two principals may both change an object, each allowed one gets its own (the others get A's).
OWN_OBJECTS: dict[Key, dict[str, dict[str, str]]] = {
    ("POST", "/api/v1/staff/registrations/<int:application_id>/decision"): {
        "officer": {"application_id": "application_for_officer"},
        "admin": {"application_id": "application_for_admin"},
    },
    ("POST", "/api/v1/staff/link-requests/<int:link_request_id>/decision"): {
        "officer": {"link_request_id": "link_request_for_officer"},
        "admin": {"link_request_id": "link_request_for_admin"},
    },
    ("POST", "/api/v1/staff/insured-persons/<string(maxlength=16):member_number>/unlink"): {
        "officer": {"member_number": "unlink_for_officer"},
        "admin": {"member_number": "unlink_for_admin"},
    },
    ("POST", "/api/v1/staff/payment-reviews/<int:review_id>/resolve"): {
        "officer": {"review_id": "review_for_officer"},
        "admin": {"review_id": "review_for_admin"},
    },
}
STAND_IN_ROUTES: dict[Key, str] = {
    ("POST", "/api/v1/me/registration"): "apply",
    ("PUT", "/api/v1/me/registration"): "resubmit",
    ("POST", "/api/v1/me/link"): "link",
    ("POST", "/api/v1/me/link/code"): "link_code",
    ("POST", "/api/v1/me/link-request"): "link_request",
    ("GET", "/api/v1/me/link-request"): "link_request_filed",
}
# Own-account routes of staff, called by each staff principal as a stand-in user of its role and office.
STAFF_STAND_IN_ROUTES: dict[Key, str] = {
    ("POST", "/api/v1/staff/me/password"): "password",
    ("POST", "/api/v1/staff/me/second-factor/confirm"): "confirm_totp",
}
STAFF_PRINCIPALS = ("officer", "other_officer", "ops", "admin")
FRESH_SIGN_IN_ROUTES = {("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/pin")}
RUN_LAST: list[Key] = [("POST", "/api/v1/auth/pin")]  # ends every sign-in of the member

STAFF_CONVERSATION = "/api/v1/staff/conversations/<int:conversation_id>"
WEEKDAYS_8_TO_4 = {"days": [{"weekday": d, "opens": "08:00:00", "closes": "16:00:00"} for d in range(5)]}
PAYLOADS: dict[Key, Payload] = {
    ("POST", "/api/v1/auth/otp"): lambda w, who: {"json": {"phone": w.per("otp_phone", who)}},
    ("POST", "/api/v1/auth/signup"): lambda w, who: {
        "json": {"phone": w.per("signup_phone", who), "code": w.per("signup_code", who), "pin": PIN}
    },
    ("POST", "/api/v1/auth/login"): lambda w, who: {"json": {"phone": w.objects["phone:login"], "pin": PIN}},
    ("POST", "/api/v1/auth/staff/login"): lambda w, who: {
        "json": {"username": w.objects["username:officer"], "password": STAFF_PASSWORD}
    },
    ("POST", "/api/v1/auth/refresh"): lambda w, who: {"json": {"refresh_token": w.per("refresh", who)}},
    ("POST", "/api/v1/auth/pin/reset"): lambda w, who: {
        "json": {"phone": w.per("phone:reset", who), "code": w.per("reset_code", who), "new_pin": NEW_PIN}
    },
    ("POST", "/api/v1/integration/token"): lambda w, who: {"json": w.objects["core_credentials"]},
    ("POST", "/api/v1/auth/pin"): json_body({"current_pin": PIN, "new_pin": NEW_PIN}),
    ("PATCH", "/api/v1/me"): json_body({"language": "en"}),
    ("POST", "/api/v1/me/link"): lambda w, who: {
        "json": {
            "member_number": w.per("link_number", who),
            "date_of_birth": LINK_BIRTH_DATE,
            "code": w.per("link_code", who),
        }
    },
    ("POST", "/api/v1/me/link/code"): lambda w, who: {
        "json": {"member_number": w.per("link_code_number", who), "date_of_birth": LINK_BIRTH_DATE}
    },
    ("POST", "/api/v1/me/link-request"): lambda w, who: {
        "json": {
            "member_number": w.per("link_request_number", who),
            "date_of_birth": LINK_BIRTH_DATE,
            "id_photo_attachment_id": w.per("id_photo", who),
        }
    },
    ("POST", "/api/v1/staff/link-requests/<int:link_request_id>/decision"): json_body(
        {"decision": "reject", "reason": "The photo is not readable."}
    ),
    ("POST", "/api/v1/staff/insured-persons/<string(maxlength=16):member_number>/unlink"): json_body(
        {"reason": "The owner reported it."}
    ),
    ("POST", "/api/v1/integration/insured-persons"): json_body(
        {
            "records": [
                {
                    "member_number": "0199999999",
                    "name_lo": "ທ ທົດສອບ",
                    "name_latin": "Register Test",
                    "date_of_birth": "1985-01-01",
                    "sex": "female",
                    "national_id": "LA-REGISTER-1",
                    "province_code": "01",
                    "scheme": "compulsory",
                }
            ]
        }
    ),
    ("POST", "/api/v1/me/registration"): lambda w, who: {"json": w.per("form", who)},
    ("PUT", "/api/v1/me/registration"): lambda w, who: {"json": w.per("form", who)},
    ("GET", "/api/v1/me/contributions/statement"): lambda w, who: {"query_string": {"year": STATEMENT_YEAR}},
    ("GET", "/api/v1/staff/members"): lambda w, who: {"query_string": {"q": "Bualai"}},
    ("POST", "/api/v1/me/devices"): lambda w, who: {
        "json": {"token": f"tok-matrix-{who}-new-phone", "platform": "android", "app_version": "1.0.0"}
    },
    ("POST", "/api/v1/me/notifications/acks"): lambda w, who: {
        "json": {"notification_ids": [w.objects["notification"]]}
    },
    ("POST", "/api/v1/sms-gateway/delivery-reports"): signed_by_gateway(
        lambda who: FakeSmsGateway.delivery_report(f"gw-matrix-{who}")
    ),
    ("POST", "/api/v1/sms-gateway/inbound"): signed_by_gateway(
        lambda who: FakeSmsGateway.inbound("+8562055599999", "help", f"in-matrix-{who}-{new_key()}")
    ),
    ("PUT", "/api/v1/me/notification-preferences"): json_body(
        {"muted_categories": ["news"], "quiet_start": "22:00:00", "quiet_end": "06:00:00"}
    ),
    ("POST", "/api/v1/conversations"): lambda w, who: {
        "json": {
            "category": "claims",
            "subject": "My sickness claim",
            "body": "Which papers do you need?",
            "idempotency_key": new_key(),
        }
    },
    ("POST", "/api/v1/conversations/<int:conversation_id>/messages"): lambda w, who: {
        "json": {"body": "Here is the receipt number: RC-1.", "idempotency_key": new_key()}
    },
    ("POST", "/api/v1/conversations/attachments"): png_upload,
    ("POST", f"{STAFF_CONVERSATION}/assign"): json_body({"assignee": "me"}),
    ("POST", f"{STAFF_CONVERSATION}/replies"): lambda w, who: {
        "json": {"body": "It is recorded.", "idempotency_key": new_key()}
    },
    ("POST", f"{STAFF_CONVERSATION}/notes"): json_body({"body": "Checked with the employer."}),
    ("POST", "/api/v1/staff/conversations/attachments"): png_upload,
    ("POST", "/api/v1/staff/canned-replies"): json_body({"title": "Thanks", "body_lo": "ຂອບໃຈ", "body_en": "Thanks"}),
    ("PUT", "/api/v1/staff/canned-replies/<int:canned_id>"): json_body(
        {"title": "Hello", "body_lo": "ສະບາຍດີ", "body_en": "Hello again"}
    ),
    ("POST", "/api/v1/staff/claims/<int:claim_id>/status"): json_body(
        {"status": "under_review", "reason": "Checking the medical certificate"}
    ),
    ("POST", "/api/v1/staff/registrations/<int:application_id>/decision"): json_body({"decision": "approve"}),
    ("POST", "/api/v1/staff/broadcasts"): json_body({**NOTICE, "audience": NOBODY}),
    ("POST", "/api/v1/staff/broadcasts/preview"): json_body({"districts": ["0101"]}),
    ("PUT", BROADCAST): json_body({**NOTICE, "title_en": "Notice (edited)", "audience": NOBODY}),
    ("POST", f"{BROADCAST}/reject"): json_body({"note": "Please say which office."}),
    ("POST", "/api/v1/integration/contributions"): lambda w, who: {
        "json": {"records": [contribution_record(w.objects["member_number_a"])]}
    },
    ("POST", "/api/v1/integration/claims"): lambda w, who: {
        "json": {"records": [claim_record(w.objects["member_number_a"])]}
    },
    ("POST", "/api/v1/integration/payments"): json_body({"records": [PAYMENT_RECORD]}),
    ("PUT", "/api/v1/admin/scheme-rules/<string(maxlength=32):scheme>"): lambda w, who: {
        "json": w.objects["scheme_rule"]
    },
    (
        "PUT",
        "/api/v1/admin/eligibility-rules/<string(maxlength=32):scheme>/<string(maxlength=32):benefit_type>",
    ): lambda w, who: {"json": w.objects["eligibility_rule"]},
    ("POST", "/api/v1/staff/me/password"): json_body(
        {"current_password": STAFF_PASSWORD, "new_password": "matrix-new-password"}
    ),
    ("POST", "/api/v1/staff/me/second-factor/confirm"): lambda w, who: {
        "json": {"code": pyotp.TOTP(w.objects[f"totp_secret:{who}"]).now() if who in STAFF_PRINCIPALS else "000000"}
    },
    ("POST", "/api/v1/admin/staff"): json_body(
        {"username": "matrix.created", "display_name": "Created", "role": "officer", "office_code": "D0101"}
    ),
    ("PUT", "/api/v1/admin/staff/<int:staff_id>"): json_body(
        {"display_name": "Target (moved)", "role": "officer", "office_code": "D1601"}
    ),
    ("PUT", "/api/v1/admin/staff/<int:staff_id>/second-factor"): json_body({"required": True}),
    ("GET", "/api/v1/admin/audit-events"): lambda w, who: {"query_string": {"action": "staff."}},
    ("GET", "/api/v1/admin/audit-events.csv"): lambda w, who: {"query_string": {"action": "staff."}},
    ("PUT", "/api/v1/admin/working-hours"): json_body(WEEKDAYS_8_TO_4),
    ("PUT", "/api/v1/admin/offices/<string(maxlength=16):office_code>/working-hours"): json_body(WEEKDAYS_8_TO_4),
    ("PUT", "/api/v1/field/uploads/<string(maxlength=64):device_photo_id>"): png_upload,
    ("POST", "/api/v1/field/registrations/batch"): lambda w, who: {
        "json": {
            "records": [
                {
                    **fresh_id(FORM_D0101),
                    "device_record_id": f"rec-matrix-{who}",
                    "phone": None,
                    "photo_ids": ["matrix-batch-photo"],
                }
            ]
        }
    },
    ("POST", "/api/v1/field/registrations/<int:application_id>/confirm"): lambda w, who: {
        "json": {"code": w.objects["field_code"]}
    },
    ("POST", "/api/v1/field/registrations/<int:application_id>/attest"): json_body({"note": "Met in person."}),
    ("POST", "/api/v1/field/confirmations"): lambda w, who: {
        "json": {"phone": w.objects[f"person_phone:{who}"], "code": w.objects[f"person_code:{who}"]}
    },
    ("POST", "/api/v1/cards/verify"): lambda w, who: {"json": {"token": w.objects["card_token_a"]}},
    ("POST", "/api/v1/staff/insured-persons/<string(maxlength=16):member_number>/card/revoke"): json_body(
        {"reason": "Reported lost."}
    ),
    ("POST", "/api/v1/admin/holidays"): json_body(
        {"day": "2031-05-01", "name_lo": "ວັນກຳມະກອນ", "name_en": "Labour Day", "office_code": "D0101"}
    ),
}


def new_bill(world: World, who: str) -> dict[str, Any]:
    """The oldest month the member owes that is on no open bill (read when the cell runs)."""
    headers = world.headers[who if who in MEMBERS else "member_a"]
    return {"json": {"months": [world.objects["first_free_month"](headers)]}}


def signed_callback(world: World, who: str) -> dict[str, Any]:
    """A bank's callback, correctly signed: any caller that holds the secret is heard (the signature is the gate)."""
    from lsso_mobile.services.payment_providers import sign

    body = json.dumps({"transaction_id": f"TX-MATRIX-{who}", "bill_number": world.objects["bill"]["number"]}).encode()
    stamp = str(int(time.time()))
    signature = sign(world.objects["callback_secret"], stamp, body)
    return {
        "data": body,
        "content_type": "application/json",
        "headers": {"X-Timestamp": stamp, "X-Signature": signature},
    }


PAYLOADS.update(
    {
        ("POST", "/api/v1/me/bills"): new_bill,
        ("POST", "/api/v1/payments/callbacks/<string(maxlength=16):provider>"): signed_callback,
        ("POST", "/api/v1/staff/cash-payments"): lambda w, who: {
            "json": {"bill_number": w.objects["bill"]["number"], "amount": w.objects["bill"]["amount"]}
        },
        ("GET", "/api/v1/staff/cash-payments/report"): lambda w, who: {
            "query_string": {"day": datetime.now(UTC).astimezone(ZoneInfo("Asia/Vientiane")).date().isoformat()}
        },
        ("POST", "/api/v1/staff/payment-reviews/<int:review_id>/resolve"): json_body(
            {"action": "refund", "note": "Paid for a cancelled bill; refunded."}
        ),
    }
)
PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def request_for(world: World, key: Key, who: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(path, headers, keyword arguments for the test client) of one cell."""
    names = {**PATH_OBJECTS, **ROUTE_OBJECTS.get(key, {}), **OWN_OBJECTS.get(key, {}).get(who, {})}
    path = PARAMETER.sub(lambda match: str(world.objects[names[match.group(1)]]), key[1])
    if key in STAND_IN_ROUTES and who in MEMBERS:
        headers = world.stand_ins[(STAND_IN_ROUTES[key], who)]
    elif key in STAFF_STAND_IN_ROUTES and who in STAFF_PRINCIPALS:
        headers = world.stand_ins[(STAFF_STAND_IN_ROUTES[key], who)]
    elif key in FRESH_SIGN_IN_ROUTES:
        headers = world.fresh_headers(who)
    else:
        headers = world.headers[who]
    payload = PAYLOADS.get(key)
    return path, headers, payload(world, who) if payload else {}


def describe(response: TestResponse) -> str:
    body = response.get_json(silent=True)
    if isinstance(body, dict):
        return str(body.get("message") or body)[:160]
    return response.content_type or ""


def run_order(table: dict[Key, Row]) -> list[Key]:
    return [key for key in table if key not in RUN_LAST] + [key for key in RUN_LAST if key in table]


def test_every_route_as_every_principal(
    client: FlaskClient, sms_gateway: SmsGateway, db: Session, staff: dict[str, str]
) -> None:
    world = build_world(client, sms_gateway, db, staff)
    mismatches: list[str] = []
    cells = 0
    for key in run_order(EXPECTED):
        expected = dict(zip(PRINCIPALS, EXPECTED[key], strict=True))
        # Refusals first: each is checked against an object no allowed principal has changed yet.
        for who in sorted(PRINCIPALS, key=lambda p: 200 <= expected[p] < 300):
            path, headers, extra = request_for(world, key, who)
            headers = {**headers, **extra.pop("headers", {})}  # a signed callback brings its own
            response = client.open(path, method=key[0], headers=headers, **extra)
            cells += 1
            if response.status_code != expected[who]:
                mismatches.append(
                    f"{key[0]} {key[1]} as {who} ({path}): expected {expected[who]}, "
                    f"got {response.status_code}: {describe(response)}"
                )
    assert cells == len(PRINCIPALS) * len(EXPECTED)
    assert not mismatches, f"{len(mismatches)} of {cells} cells differ from EXPECTED:\n" + "\n".join(mismatches)
