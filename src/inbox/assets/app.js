// Switchboard inbox: live regions from the event stream, keyboard navigation. No framework,
// no inline script (the pages' Content-Security-Policy forbids it).

const account = document.body.dataset.account;
const status = document.getElementById("live");
let pending = null;

// Re-renders every [data-live] region from a fresh copy of this page (the server renders,
// and escapes, everything); form fields outside those regions keep what the user typed.
async function refresh() {
  pending = null;
  const regions = document.querySelectorAll("[data-live]");
  if (regions.length === 0) return;
  let html;
  try {
    const resp = await fetch(location.href, { headers: { Accept: "text/html" }, cache: "no-store" });
    if (!resp.ok) return;
    html = await resp.text();
  } catch {
    return;
  }
  const fresh = new DOMParser().parseFromString(html, "text/html");
  const focused = document.activeElement && document.activeElement.closest("[data-live]") ? focusKey(document.activeElement) : null;
  for (const region of regions) {
    const next = fresh.getElementById(region.id);
    if (next) region.replaceWith(document.importNode(next, true));
  }
  if (focused) {
    const again = document.querySelector(focused);
    if (again) again.focus();
  }
}

function focusKey(el) {
  const href = el.getAttribute("href");
  return href ? `a[href="${CSS.escape(href)}"]` : null;
}

// At most one re-read every MIN_GAP ms however busy the account is (a change still shows
// within a second), and none while the tab is hidden: it catches up when shown again.
const MIN_GAP = 500;
let lastRefresh = 0;
let stale = false;

function schedule() {
  if (document.hidden) {
    stale = true;
    return;
  }
  if (pending) return;
  const wait = Math.max(150, lastRefresh + MIN_GAP - Date.now());
  pending = setTimeout(() => {
    lastRefresh = Date.now();
    refresh();
  }, wait);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && stale) {
    stale = false;
    schedule();
  }
});

// EventSource reconnects by itself; every (re)connect re-reads the page (`open`), so nothing
// missed while the stream was down stays missing.
function connect() {
  if (!account) return;
  const es = new EventSource("/events");
  es.addEventListener("open", () => {
    status.textContent = "live";
    status.classList.add("on");
    schedule(); // whatever changed while the page loaded or the stream was down
  });
  // `changes` stands for every change of the account since the last one (the server gathers
  // them, ~10 a second at most); the page re-reads its live regions.
  es.addEventListener("changes", schedule);
  es.addEventListener("error", () => {
    status.textContent = "reconnecting…";
    status.classList.remove("on");
  });
}

// Keys: j/k move between rows, Enter opens (native on links), / search, c compose, Esc back.
function rows() {
  return [...document.querySelectorAll("[data-row]")].map((r) => (r.matches("a") ? r : r.querySelector("a"))).filter(Boolean);
}

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) {
    if (e.key === "Escape") t.blur();
    return;
  }
  const list = rows();
  const at = list.indexOf(document.activeElement);
  if (e.key === "j" || e.key === "k") {
    if (list.length === 0) return;
    const next = e.key === "j" ? Math.min(at + 1, list.length - 1) : Math.max(at - 1, 0);
    list[next].focus();
    list[next].scrollIntoView({ block: "nearest" });
    e.preventDefault();
  } else if (e.key === "/") {
    const q = document.getElementById("q");
    if (q) { q.focus(); e.preventDefault(); } else { location.href = "/messages"; }
  } else if (e.key === "c") {
    location.href = "/compose";
  } else if (e.key === "Escape" && history.length > 1) {
    history.back();
  }
});

connect();
