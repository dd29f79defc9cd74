"""Message texts follow the settings on a real database: the brand and the payment link of
SLOTQUEUE_BRAND_NAME and SLOTQUEUE_PAYMENT_LINK_URL, in commands, the live projection and a
rebuild (which renders with the settings of its day; verify shows the old texts until then)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from slotqueue.bootstrap import build
from slotqueue.projections import maintenance

from dbsupport import NOW

GRACE = timedelta(minutes=120)
LINK = "https://buy.stripe.com/test_abc?prefilled_promo=HI"


def _texts(db):
    rows = db.execute("SELECT dedupe_key, meta_json->>'text' FROM message_log "
                      "ORDER BY dedupe_key").fetchall()
    return dict(rows)


def _deposit_text(db, entry_id):
    return _texts(db)[f"deposit_needed:{entry_id}"]


def test_commands_render_the_brand_and_the_link_of_the_environment(database_url, db):
    env = {**os.environ, "DATABASE_URL": database_url, "CI": "true",
           "SLOTQUEUE_BRAND_NAME": "Aloha Slots", "SLOTQUEUE_PAYMENT_LINK_URL": LINK}

    def cli(*args):
        done = subprocess.run([sys.executable, "-m", "slotqueue", *args], capture_output=True,
                              text=True, env=env, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("join", "--phone", "808-555-0161")
    entry = db.execute("SELECT id FROM queue_entries").fetchone()[0]
    cli("require-deposit", str(entry))
    text = _deposit_text(db, entry)
    assert text.startswith("Aloha Slots: you're near the front of the line.")
    assert text.endswith(f": {LINK}&client_reference_id={entry}")
    assert "{payment_link}" not in text


def test_a_rebuild_renders_with_the_current_settings_and_verify_shows_old_texts_until_then(
        settings, database_url, db):
    branded = build(settings.model_copy(update={"brand_name": "Aloha Slots",
                                                "payment_link_url": LINK}), database_url)
    try:
        joined = branded.app.join("808-555-0162", None, NOW)
        branded.app.require_deposit(joined.queue_entry_id, NOW, GRACE)
        branded.app.cancel(joined.queue_entry_id, NOW + timedelta(minutes=1))
        branded.catch_up()
    finally:
        branded.close()
    assert all(t.startswith("Aloha Slots: ") for t in _texts(db).values())
    plain = build(settings, database_url)  # the defaults: "DMV Queue", no link
    try:
        differences = maintenance.verify(plain.app, plain.view, texts=plain.texts)
        assert {d.table for d in differences} == {"message_log"}
        maintenance.rebuild(plain.app, plain.view, texts=plain.texts)
        assert maintenance.verify(plain.app, plain.view, texts=plain.texts) == []
    finally:
        plain.close()
    texts = _texts(db)
    assert all(t.startswith("DMV Queue: ") for t in texts.values())
    assert _deposit_text(db, joined.queue_entry_id).endswith(
        "We will contact you with how to pay.")


def test_the_live_projection_renders_with_the_settings_it_was_given(settings, database_url, db):
    svc = build(settings.model_copy(update={"brand_name": "Aloha Slots",
                                            "payment_link_url": LINK}), database_url)
    runner = svc.supervised_projection().start()
    try:
        joined = svc.app.join("808-555-0163", None, NOW)
        svc.app.require_deposit(joined.queue_entry_id, NOW, GRACE)
        svc.view.wait(svc.app.name, svc.app.recorder.max_notification_id(), timeout=15)
    finally:
        runner.stop()
        svc.close()
    assert _deposit_text(db, joined.queue_entry_id).endswith(
        f"&client_reference_id={joined.queue_entry_id}")
    assert _deposit_text(db, joined.queue_entry_id).startswith("Aloha Slots: ")
