"""The member card as pictures: the QR as PNG or SVG (segno) for the app, and a printable PDF (fpdf2 with
HarfBuzz text shaping, so Lao vowels and tone marks sit where they belong) for the mobile units' card printers.

The Lao fonts are the machine's (``services/pdf.py``: Debian's fonts-lao / fonts-noto-core, as for receipts);
Latin text uses the PDF core font Helvetica.
"""

from __future__ import annotations

import io

import segno
from fpdf import FPDF

from lsso_mobile.models import InsuredPerson, MemberCard
from lsso_mobile.services.pdf import lao_bold_font, lao_font

QR_ERROR = "M"


def card_qr(token: str) -> segno.QRCode:
    """The QR of a card token: alphanumeric mode (Base45 is the QR alphanumeric alphabet), level M."""
    return segno.make(token, error=QR_ERROR, micro=False, boost_error=False)


def card_png(token: str, scale: int = 4) -> bytes:
    out = io.BytesIO()
    card_qr(token).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def card_svg(token: str, scale: int = 4) -> bytes:
    out = io.BytesIO()
    card_qr(token).save(out, kind="svg", scale=scale, border=4, xmldecl=True, svgns=True)
    return out.getvalue()


def card_pdf(person: InsuredPerson, card: MemberCard) -> bytes:
    """A card-sized PDF (ISO/IEC 7810 ID-1, 85.6 x 54 mm): names, member number, birth date, scheme, status,
    paid-to month and the QR."""
    pdf = FPDF(unit="mm", format=(85.6, 54))
    pdf.set_auto_page_break(False)
    pdf.set_margins(4, 4, 4)
    pdf.add_font("NotoSansLao", "", str(lao_font()))
    pdf.add_font("NotoSansLao", "B", str(lao_bold_font()))
    pdf.set_text_shaping(use_shaping_engine=True, script="lao", language="lao")
    pdf.add_page()
    pdf.set_creator("lsso-mobile")
    pdf.set_title("LSSO member card")
    pdf.set_font("Helvetica", "B", 7)
    pdf.set_xy(4, 3.5)
    pdf.cell(50, 4, "LAO SOCIAL SECURITY ORGANIZATION")
    pdf.set_font("NotoSansLao", "B", 9)
    pdf.set_xy(4, 8.5)
    pdf.cell(50, 5.5, person.name_lo)
    pdf.set_font("Helvetica", "", 7)
    pdf.set_xy(4, 14.5)
    pdf.cell(50, 3.5, person.name_latin)
    lines = [
        ("No.", person.member_number),
        ("Born", person.date_of_birth.isoformat()),
        ("Scheme", person.scheme.value),
        ("Status", card.status.replace("_", " ")),
        ("Paid to", card.paid_to or "-"),
        ("Valid to", card.expires_at.date().isoformat()),
    ]
    y = 19.5
    for label, value in lines:
        pdf.set_font("Helvetica", "", 6)
        pdf.set_xy(4, y)
        pdf.cell(12, 3.2, label)
        pdf.set_font("Helvetica", "B", 7)
        pdf.cell(36, 3.2, value)
        y += 3.6
    pdf.image(io.BytesIO(card_png(card.token, scale=2)), x=53.6, y=14, w=30, h=30)
    pdf.set_font("Helvetica", "", 5)
    pdf.set_xy(53.6, 45)
    pdf.cell(30, 3, f"card {card.card_id}", align="C")
    return bytes(pdf.output())
