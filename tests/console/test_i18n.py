"""The console's Lao catalogue: every text of the console is in it, translated, and the committed .mo is the
compiled .po (a fresh install needs no build step). To add texts: extract with babel.cfg, translate in the
.po, and compile (`pybabel compile -d lsso_mobile/translations`)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "lsso_mobile/translations/lo/LC_MESSAGES/messages.po"
MO = PO.with_suffix(".mo")


def _source_ids() -> set[str]:
    method_map = [("lsso_mobile/console/**.py", "python"), ("lsso_mobile/console/templates/**.html", "jinja2")]
    keywords = {**DEFAULT_KEYWORDS, "_l": None}
    ids = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, keywords=keywords, options_map={}
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def _catalogue() -> dict[str, str]:
    with PO.open("rb") as handle:
        return {m.id: m.string for m in read_po(handle) if m.id and not m.fuzzy}


def test_every_console_text_is_in_the_lao_catalogue():
    source = _source_ids()
    assert len(source) > 100
    missing = sorted(source - set(_catalogue()))
    assert missing == [], f"texts with no entry in {PO.name}: {missing}"


def test_every_entry_is_translated_into_lao():
    untranslated = sorted(msgid for msgid, text in _catalogue().items() if not text.strip())
    assert untranslated == []
    not_lao = sorted(
        msgid for msgid, text in _catalogue().items() if not any("\u0e80" <= ch <= "\u0eff" for ch in text)
    )
    assert not_lao == []


def test_the_committed_mo_is_the_compiled_po():
    with MO.open("rb") as handle:
        compiled = {m.id: m.string for m in read_mo(handle) if m.id}
    assert compiled == _catalogue()
