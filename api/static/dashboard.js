// The dashboard's live updates (spec service §5), no framework: a server-sent event stream
// says what changed (each change once: duplicates are dropped by event id), and the page
// fetches its own live region again (`?fragment=1`). The stream reconnects with back-off, up
// to 4 tries; a 60-second poll (SLOTQUEUE_DASHBOARD_POLL_SECONDS) keeps the page current
// whatever the stream does, and the page says when it is degraded. Countdowns tick here.
(function () {
  "use strict";

  const MAX_TRIES = 4;
  const body = document.body;
  const kinds = new Set((body.dataset.live || "").split(/\s+/).filter(Boolean));
  const pollSeconds = Number(body.dataset.pollSeconds || 60);
  const zone = body.dataset.tz || undefined;
  const status = document.getElementById("live-status");
  const reconnectButton = document.getElementById("live-reconnect");
  const region = document.getElementById("live-region");
  const updated = document.getElementById("updated-at");
  const seen = new Set();
  let lastId = null;
  let source = null;
  let tries = 0;
  let pending = null;
  let waiting = false; // a refresh put off while someone types in the region
  const stats = { changes: 0, duplicates: 0, refreshes: 0, polls: 0 };
  window.slotqueueLive = stats; // read by the browser tests and the benchmark

  function say(text, state) {
    body.dataset.liveState = state;
    if (status) {
      status.textContent = text;
      status.dataset.state = state;
    }
    if (reconnectButton) reconnectButton.hidden = state !== "degraded" || tries < MAX_TRIES;
  }

  function stamp() {
    if (!updated) return;
    const now = new Date();
    updated.dateTime = now.toISOString();
    updated.textContent = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, weekday: "short", hour: "numeric", minute: "2-digit",
      second: "2-digit", timeZoneName: "short",
    }).format(now);
  }

  function typing() {
    const active = document.activeElement;
    return active && region && region.contains(active) &&
      /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName) && active.type !== "submit";
  }

  async function refresh(why) {
    if (!region) return;
    if (typing()) {
      waiting = true;
      return;
    }
    const url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    try {
      const answer = await fetch(url, { credentials: "same-origin", redirect: "manual" });
      if (answer.type === "opaqueredirect" || answer.status === 401) {
        window.location.reload(); // signed out: the page sends us to sign in
        return;
      }
      if (!answer.ok) return;
      const html = await answer.text();
      if (typing()) {
        waiting = true;
        return;
      }
      const focused = document.activeElement && document.activeElement.id;
      region.innerHTML = html;
      if (focused) {
        const again = document.getElementById(focused);
        if (again) again.focus();
      }
      stats.refreshes += 1;
      if (why === "poll") stats.polls += 1;
      body.dataset.refreshes = String(stats.refreshes);
      stamp();
      tick();
    } catch (error) {
      // the server is away: the next change or poll tries again
    }
  }

  function soon() {
    clearTimeout(pending);
    pending = setTimeout(function () { refresh("change"); }, 30);
  }

  function onChange(event) {
    const id = Number(event.lastEventId);
    if (seen.has(id)) {
      stats.duplicates += 1;
      return;
    }
    seen.add(id);
    if (seen.size > 5000) seen.delete(seen.values().next().value);
    lastId = lastId === null ? id : Math.max(lastId, id);
    stats.changes += 1;
    const change = JSON.parse(event.data);
    if (kinds.has(change.kind)) soon();
  }

  function connect() {
    const url = "/dashboard/events" + (lastId === null ? "" : "?after=" + lastId);
    const stream = new EventSource(url);
    source = stream;
    stream.addEventListener("ready", function () {
      const reconnected = tries > 0;
      tries = 0;
      say("Live updates: on", "live");
      if (reconnected) soon(); // what happened while the stream was down
    });
    stream.addEventListener("change", onChange);
    stream.onerror = function () {
      stream.close();
      if (source === stream) source = null;
      retry();
    };
  }

  function retry() {
    if (tries >= MAX_TRIES) {
      say("Live updates: degraded — the stream is down; this page refreshes itself every " +
          pollSeconds + " s", "degraded");
      return;
    }
    tries += 1;
    const wait = Math.min(500 * 2 ** (tries - 1), 8000);
    say("Live updates: degraded — reconnecting (try " + tries + " of " + MAX_TRIES + ")",
        "degraded");
    setTimeout(connect, wait);
  }

  function words(seconds) {
    const s = Math.abs(Math.round(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (h > 0) return h + " h " + String(m).padStart(2, "0") + " min";
    if (m > 0) return m + " min " + String(s % 60).padStart(2, "0") + " s";
    return (s % 60) + " s";
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      const left = (Date.parse(el.dataset.countdown) - now) / 1000;
      const local = el.getAttribute("title") || "";
      el.textContent = (left >= 0 ? "in " + words(left) : "overdue by " + words(left)) +
        (local ? " (" + local + ")" : "");
    });
  }

  if (region) {
    region.addEventListener("focusout", function () {
      if (waiting) {
        waiting = false;
        setTimeout(function () { if (!typing()) refresh("change"); }, 0);
      }
    });
  }
  if (reconnectButton) {
    reconnectButton.addEventListener("click", function () {
      tries = 0;
      say("Live updates: connecting…", "connecting");
      connect();
    });
  }
  tick();
  setInterval(tick, 1000);
  if (status) {
    connect();
    setInterval(function () { refresh("poll"); }, pollSeconds * 1000);
  }
})();
