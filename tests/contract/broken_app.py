"""A copy of the app whose one response does not match its documented schema, for the gate's own test.

``GET /api/v1/provinces`` answers each province's ``code`` as a number where the document says string.
Everything else, the document included, is the real app's. Served by gunicorn as
``tests.contract.broken_app:app``.
"""

from typing import Any

from flask import jsonify

from lsso_mobile import create_app

app = create_app()
_real_view = app.view_functions["reference.list_provinces"]


def _provinces_with_numeric_codes() -> Any:
    provinces = _real_view().get_json()
    return jsonify([{**province, "code": int(province["code"])} for province in provinces])


app.view_functions["reference.list_provinces"] = _provinces_with_numeric_codes
