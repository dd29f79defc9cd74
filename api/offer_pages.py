"""The plain HTML pages a person sees who taps an offer's link (spec service §4.2): the offer
with Accept and Decline buttons (two forms that post back to the same link), or what became
of it. No script, no asset from elsewhere: one small page with its style inline."""

from __future__ import annotations

from html import escape
from typing import Any

STYLE = ("body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;"
         "line-height:1.4;color:#1b1b1b}h1{font-size:1.3rem}.when{font-size:1.1rem;"
         "font-weight:600}form{display:inline-block;margin:.5rem .5rem 0 0}button{font-size:1rem;"
         "padding:.6rem 1.4rem;border-radius:.4rem;border:1px solid #555;cursor:pointer}"
         ".accept{background:#0a6b2e;color:#fff;border-color:#0a6b2e}.note{color:#555}")


def page(title: str, body: str, brand: str) -> str:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"robots\" content=\"noindex\">"
            f"<title>{escape(brand)}: {escape(title)}</title><style>{STYLE}</style></head>"
            f"<body><p class=\"note\">{escape(brand)}</p><h1>{escape(title)}</h1>{body}"
            "</body></html>")


def offer_page(offer: dict[str, Any], token: str, brand: str) -> str:
    """The offer: where and when, until when, and the two buttons while it is open."""
    where = escape(offer["location"] or "Your opening")
    lines = [f"<p class=\"when\">{where}<br>{escape(offer['slot_local'])}</p>"]
    if offer["status"] == "pending":
        action = f"/v1/offers/{offer['offer_id']}"
        query = f"?token={escape(token, quote=True)}"
        lines += [
            f"<p>It is held for you until <strong>{escape(offer['expires_at_local'])}"
            "</strong>.</p>",
            f"<form method=\"post\" action=\"{action}/accept{query}\"><button class=\"accept\" "
            "type=\"submit\">Accept</button></form>",
            f"<form method=\"post\" action=\"{action}/decline{query}\"><button "
            "type=\"submit\">Decline</button></form>",
            "<p class=\"note\">You can also reply 1 to accept or 9 to decline to our text."
            "</p>"]
        return page("An appointment is yours to claim", "".join(lines), brand)
    lines.append(f"<p>{escape(offer['what_happened'] or offer['status'])}.</p>")
    return page(TITLES.get(offer["status"], "This offer is closed"), "".join(lines), brand)


TITLES = {"booked": "Booked", "accepted": "Accepted", "failed": "We could not book it",
          "declined": "Declined", "expired": "This offer has expired",
          "withdrawn": "This opening is gone"}


def refusal_page(status: int, detail: str, brand: str) -> str:
    """A link that does not work (unknown, wrong, replaced), or an answer that came too late."""
    title = {403: "This link was replaced", 404: "This link does not work",
             409: "This offer is closed", 429: "Too many tries"}.get(status, "Not possible")
    return page(title, f"<p>{escape(detail[:1].upper() + detail[1:])}.</p>", brand)
