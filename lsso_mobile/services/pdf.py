"""PDFs with Lao text (receipts; the member card may reuse it): fpdf2 with HarfBuzz shaping and a Lao font.

Lao needs OpenType shaping (vowels and tone marks stack on their consonant); fpdf2 does it with
``set_text_shaping(True)`` through ``uharfbuzz``. The font is Phetsarath OT from Debian's ``fonts-lao``
(the LSSO's own standard Lao typeface; Debian ships it under its free licence, see
/usr/share/doc/fonts-lao/copyright), or Noto Sans Lao from ``fonts-noto-core`` when that is what the machine
has. Without either the PDF cannot be made and the error says which package to install.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

LAO_FONTS = (
    Path("/usr/share/fonts/truetype/lao/Phetsarath_OT.ttf"),
    Path("/usr/share/fonts/truetype/noto/NotoSansLao-Regular.ttf"),
    Path("/usr/share/fonts/opentype/noto/NotoSansLao-Regular.ttf"),
)
LAO_BOLD_FONTS = (
    Path("/usr/share/fonts/truetype/noto/NotoSansLao-Bold.ttf"),
    Path("/usr/share/fonts/opentype/noto/NotoSansLao-Bold.ttf"),
)
LATIN_FALLBACK = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


class LaoFontMissing(RuntimeError):
    """No Lao font on this machine: install Debian's fonts-lao."""


def lao_font() -> Path:
    for path in LAO_FONTS:
        if path.exists():
            return path
    raise LaoFontMissing("no Lao font found: install Debian's fonts-lao (apt-get install fonts-lao)")


def lao_bold_font() -> Path:
    """A bold Lao face (Noto Sans Lao Bold from fonts-noto-core), else the regular one."""
    for path in LAO_BOLD_FONTS:
        if path.exists():
            return path
    return lao_font()


class LaoDocument:
    """A one-column A5 document: a title, then lines of label/value pairs, then small print."""

    def __init__(self, title: str) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(format=(148, 210))  # A5, in millimetres
        self.pdf.set_title(title)
        self.pdf.set_creator("lsso-mobile")
        self.pdf.add_font("lao", fname=str(lao_font()))
        if LATIN_FALLBACK.exists():
            self.pdf.add_font("latin", fname=str(LATIN_FALLBACK))
            self.pdf.set_fallback_fonts(["latin"])
        self.pdf.set_text_shaping(True)
        self.pdf.set_auto_page_break(True, margin=12)
        self.pdf.add_page()
        self.pdf.set_font("lao", size=15)
        self.pdf.multi_cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(3)

    def heading(self, text: str) -> None:
        self.pdf.set_font("lao", size=12)
        self.pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")

    def rows(self, rows: Sequence[tuple[str, str]]) -> None:
        self.pdf.set_font("lao", size=10)
        label_width = 52
        for label, value in rows:
            y = self.pdf.get_y()
            self.pdf.multi_cell(label_width, 6, label, new_x="RIGHT", new_y="TOP")
            self.pdf.multi_cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
            self.pdf.set_y(max(self.pdf.get_y(), y + 6))
        self.pdf.ln(2)

    def note(self, text: str) -> None:
        self.pdf.set_font("lao", size=8)
        self.pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")

    def output(self) -> bytes:
        return bytes(self.pdf.output())
