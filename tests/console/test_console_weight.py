"""bench/console_weight.py at a small size: the console stays light for slow provincial links (the first load
of the inbox with its script, style and Lao font, and one htmx refresh), and its text assets are compressed."""

from __future__ import annotations

from bench.console_weight import measure


def test_first_load_and_an_htmx_update_stay_small():
    result = measure(conversations=3)
    assert result["page_html_encoding"] == "gzip" and result["htmx_update_encoding"] == "gzip"
    assert result["assets"]["htmx.min.js"]["encoding"] == "gzip"
    assert result["assets"]["console.css"]["encoding"] == "gzip"
    assert result["first_load_bytes"] < 60_000
    assert result["htmx_update_bytes"] < 4_000
