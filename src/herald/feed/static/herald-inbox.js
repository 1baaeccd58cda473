// <herald-inbox api="https://herald.example.com" token="END-USER-TOKEN" locale="en"></herald-inbox>
// Herald's in-app inbox: a bell with an unread badge, a dropdown feed and live updates over SSE.
// Plain JavaScript, no dependencies, no build step. Item content only ever reaches the DOM as text.
(() => {
  "use strict";
  if (customElements.get("herald-inbox")) return;

  const PAGE = 20;
  // The API bounds a list of ids; chunks keep "seen" working after many "load more".
  const MAX_IDS = 100;
  const RETRY_MAX_MS = 30000;
  const UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];

  const STYLE = `
:host { --herald-accent: #0b57d0; --herald-badge-bg: #b3261e; --herald-badge-fg: #fff; --herald-bg: #fff;
  --herald-fg: #1f1f1f; --herald-muted: #545454; --herald-border: #d0d0d0; --herald-hover: #f2f5fc;
  --herald-unread-bg: #eef3fd; --herald-radius: 8px; --herald-width: 360px; --herald-font: system-ui, sans-serif;
  display: inline-block; position: relative; font-family: var(--herald-font); color: var(--herald-fg); }
button { font: inherit; color: inherit; background: none; border: 0; cursor: pointer; }
:focus-visible { outline: 3px solid var(--herald-accent); outline-offset: 2px; }
.bell { position: relative; display: grid; place-items: center; width: 40px; height: 40px; padding: 0; border-radius: 50%; }
.bell svg { width: 24px; height: 24px; fill: currentColor; }
.badge { position: absolute; top: 2px; right: 0; min-width: 18px; padding: 0 4px; box-sizing: border-box; border-radius: 9px;
  background: var(--herald-badge-bg); color: var(--herald-badge-fg); font: 700 11px/18px var(--herald-font); }
.panel { position: absolute; right: 0; top: calc(100% + 6px); z-index: 1000; width: min(var(--herald-width), 100vw - 16px);
  max-height: min(480px, 75vh); display: flex; flex-direction: column; background: var(--herald-bg);
  border: 1px solid var(--herald-border); border-radius: var(--herald-radius); box-shadow: 0 8px 24px #0003; }
.panel.start { right: auto; left: 0; }
.head { display: flex; align-items: center; justify-content: space-between; padding: 8px 12px; }
h2 { margin: 0; font-size: 15px; }
.link { padding: 4px; color: var(--herald-accent); font-size: 13px; text-decoration: underline; }
ul { list-style: none; margin: 0; padding: 0; overflow-y: auto; }
li { display: flex; align-items: flex-start; border-top: 1px solid var(--herald-border); }
li.unread { background: var(--herald-unread-bg); }
.open { flex: 1; display: flex; gap: 8px; min-width: 0; padding: 10px 4px 10px 12px; text-align: left; }
.bell:hover, .open:hover, .archive:hover { background: var(--herald-hover); }
.dot { flex: none; width: 8px; height: 8px; margin-top: 6px; border-radius: 50%; }
li.unread .dot { background: var(--herald-accent); }
.text { display: flex; flex-direction: column; gap: 2px; min-width: 0; overflow-wrap: anywhere; font-size: 13px; }
.title { font-weight: 600; font-size: 14px; }
time { font-size: 12px; color: var(--herald-muted); }
.archive { flex: none; margin: 6px 6px 0 0; width: 32px; height: 32px; border-radius: 4px; color: var(--herald-muted); font-size: 18px; }
.empty { margin: 0; padding: 24px 12px; text-align: center; color: var(--herald-muted); font-size: 14px; }
.more { margin: 8px auto; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
[hidden] { display: none !important; }`;

  // A constructed sheet rather than a <style>: it applies under a host page's CSP without 'unsafe-inline'.
  const SHEET = new CSSStyleSheet();
  SHEET.replaceSync(STYLE);

  const SHELL = `<button class="bell" type="button" part="bell" aria-haspopup="dialog" aria-expanded="false" aria-controls="panel">
  <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6v-5a7 7 0 0
  0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z"/></svg>
  <span class="badge" aria-hidden="true" hidden></span>
</button>
<div class="panel" id="panel" part="panel" role="dialog" aria-labelledby="heading" tabindex="-1" hidden>
  <div class="head"><h2 id="heading">Notifications</h2><button class="link all" type="button">Mark all as read</button></div>
  <ul aria-labelledby="heading"></ul>
  <p class="empty" hidden>You have no notifications.</p>
  <button class="link more" type="button" hidden>Load more</button>
</div>
<div class="sr" role="status" aria-live="polite"></div>`;

  // Absolute http(s) or relative only: an action_url is the app's data, and "javascript:" must never run.
  function safeUrl(raw) {
    try {
      const url = new URL(raw, document.baseURI);
      return raw && (url.protocol === "http:" || url.protocol === "https:") ? url.href : null;
    } catch {
      return null;
    }
  }

  function el(tag, className, text = "") {
    const node = document.createElement(tag);
    node.className = className;
    node.textContent = text;
    return node;
  }

  class HeraldInbox extends HTMLElement {
    static observedAttributes = ["api", "token", "locale"];

    #root;
    #ui = {};
    #rows = new Map(); // id -> { item, node }, in the order shown
    #counts = { unread: 0, unseen: 0 };
    #cursor = null;
    #loading = false;
    #streamedCounts = 0;
    #source = null;
    #retry = 0;
    #timer = 0;
    #generation = 0;
    #queued = false;
    #format = null;
    #outside = (e) => { if (!e.composedPath().includes(this)) this.close(false); };

    constructor() {
      super();
      this.#root = this.attachShadow({ mode: "open" });
      this.#root.adoptedStyleSheets = [SHEET];
      this.#root.innerHTML = SHELL;
      for (const name of ["bell", "badge", "panel", "empty", "more", "all"]) this.#ui[name] = this.#root.querySelector(`.${name}`);
      this.#ui.list = this.#root.querySelector("ul");
      this.#ui.live = this.#root.querySelector("[role=status]");
      this.#ui.bell.addEventListener("click", () => this.toggle());
      this.#ui.all.addEventListener("click", () => this.#readAll());
      this.#ui.more.addEventListener("click", () => this.#loadPage());
      this.#ui.list.addEventListener("scroll", () => this.#onScroll());
      this.#root.addEventListener("keydown", (e) => this.#onKey(e));
      this.#renderCounts();
    }

    connectedCallback() { this.#queueRestart(); }

    disconnectedCallback() {
      this.#stop();
      document.removeEventListener("click", this.#outside);
    }

    attributeChangedCallback(name, before, after) {
      if (before === after) return;
      if (name !== "locale") {
        if (this.isConnected) this.#queueRestart();
        return;
      }
      this.#format = null;
      this.#renderTimes();
    }

    get api() { return (this.getAttribute("api") || "").replace(/\/+$/, ""); }
    get token() { return this.getAttribute("token") || ""; }
    get isOpen() { return !this.#ui.panel.hidden; }

    toggle() { this.isOpen ? this.close(true) : this.open(); }

    open() {
      const { panel, bell } = this.#ui;
      // Towards the wider side of the window, so a bell near the left edge keeps its panel on screen.
      panel.classList.toggle("start", this.getBoundingClientRect().left < window.innerWidth / 2);
      panel.hidden = false;
      bell.setAttribute("aria-expanded", "true");
      document.addEventListener("click", this.#outside);
      this.#renderTimes();
      panel.focus();
      this.#markSeen([...this.#rows.values()].map((row) => row.item));
    }

    close(returnFocus) {
      if (!this.isOpen) return;
      this.#ui.panel.hidden = true;
      this.#ui.bell.setAttribute("aria-expanded", "false");
      document.removeEventListener("click", this.#outside);
      if (returnFocus) this.#ui.bell.focus();
    }

    // Setting api and token in one task reconnects once, not once per attribute.
    #queueRestart() {
      if (this.#queued) return;
      this.#queued = true;
      queueMicrotask(() => {
        this.#queued = false;
        this.#restart();
      });
    }

    #restart() {
      this.#stop();
      this.#generation += 1;
      this.#rows.clear();
      this.#ui.list.replaceChildren();
      this.#cursor = null;
      this.#loading = false;
      this.#setCounts({ unread: 0, unseen: 0 }, false);
      if (!this.api || !this.token) return;
      // The stream before the page: an item created in between comes on the stream and the page's copy
      // is dropped as a duplicate, where the other order would lose it.
      this.#connect();
      this.#loadPage();
    }

    #stop() {
      clearTimeout(this.#timer);
      this.#source?.close();
      this.#source = null;
    }

    #connect() {
      const source = new EventSource(`${this.api}/v1/me/feed/stream?token=${encodeURIComponent(this.token)}`);
      this.#source = source;
      source.addEventListener("open", () => { this.#retry = 0; });
      source.addEventListener("item", (e) => this.#onItem(JSON.parse(e.data)));
      source.addEventListener("counts", (e) => {
        this.#streamedCounts += 1;
        this.#setCounts(JSON.parse(e.data), true);
      });
      // EventSource reconnects a dropped stream by itself, sending Last-Event-ID. It gives up for good on
      // an HTTP error (an expired token, a proxy's 502): then start over, with backoff, since a new
      // EventSource cannot send Last-Event-ID and only a reload of the page brings what was missed.
      source.addEventListener("error", () => {
        if (source.readyState !== EventSource.CLOSED || source !== this.#source) return;
        this.#emit("error", { source: "stream" });
        this.#timer = setTimeout(() => this.#restart(), Math.min(RETRY_MAX_MS, 1000 * 2 ** this.#retry++));
      });
    }

    async #request(method, path, body, keepalive = false) {
      const headers = { Authorization: `Bearer ${this.token}` };
      if (body) headers["Content-Type"] = "application/json";
      const generation = this.#generation;
      const response = await fetch(`${this.api}/v1/me/feed${path}`, {
        method, headers, keepalive, body: body && JSON.stringify(body),
      });
      const answer = response.ok && response.status !== 204 ? await response.json() : null;
      // An answer for the previous token must never reach the next user's list.
      if (generation !== this.#generation) throw new Error("stale");
      if (!response.ok) {
        this.#emit("error", { source: "api", status: response.status, path });
        throw new Error(`Herald answered ${response.status}`);
      }
      return answer;
    }

    async #loadPage() {
      if (this.#loading) return;
      this.#loading = true;
      const generation = this.#generation;
      // Counts the stream sends while this page is on its way are newer than the page's.
      const streamed = this.#streamedCounts;
      const query = new URLSearchParams({ limit: PAGE, status: "all" });
      if (this.#cursor) query.set("cursor", this.#cursor);
      try {
        const page = await this.#request("GET", `?${query}`);
        this.#cursor = page.next_cursor;
        const added = page.items.filter((item) => this.#upsert(item, false));
        if (this.#streamedCounts === streamed) this.#setCounts(page.counts, true);
        if (this.isOpen) this.#markSeen(added);
      } catch {
        // Reported as herald-inbox:error; "Load more" stays for another try.
      } finally {
        if (generation === this.#generation) this.#loading = false;
        this.#renderList();
      }
    }

    #onScroll() {
      const list = this.#ui.list;
      if (this.#cursor && list.scrollTop + list.clientHeight >= list.scrollHeight - 48) this.#loadPage();
    }

    #onItem(item) {
      const isNew = this.#upsert(item, true);
      this.#renderList();
      if (!isNew) return;
      this.#ui.live.textContent = `New notification: ${item.title}`;
      this.#emit("item", item);
      if (this.isOpen) this.#markSeen([item]);
    }

    // Whether the item is new: a replayed or re-fetched one only updates the row shown.
    #upsert(item, newest) {
      if (item.archived_at) {
        this.#remove(item.id);
        return false;
      }
      const row = this.#rows.get(item.id);
      const node = row ? row.node : this.#build(item.id);
      this.#rows.set(item.id, { item, node });
      this.#fill(node, item);
      if (!row) newest ? this.#ui.list.prepend(node) : this.#ui.list.append(node);
      return !row;
    }

    #remove(id) {
      this.#rows.get(id)?.node.remove();
      this.#rows.delete(id);
    }

    #build(id) {
      const node = el("li", "");
      node.dataset.id = id;
      const open = el("button", "open");
      const text = el("span", "text");
      text.append(el("span", "sr"), el("span", "title"), el("span", "body"), el("time", ""));
      open.append(el("span", "dot"), text);
      const archive = el("button", "archive", "\u00d7");
      open.type = archive.type = "button";
      open.addEventListener("click", () => this.#openItem(id));
      archive.addEventListener("click", () => this.#archive(id));
      node.append(open, archive);
      return node;
    }

    #fill(node, item) {
      node.classList.toggle("unread", !item.read_at);
      node.querySelector(".sr").textContent = item.read_at ? "" : "Unread: ";
      node.querySelector(".title").textContent = item.title;
      node.querySelector(".body").textContent = item.body;
      const time = node.querySelector("time");
      time.dateTime = item.created_at;
      time.textContent = this.#ago(item.created_at);
      node.querySelector(".archive").setAttribute("aria-label", `Archive: ${item.title}`);
    }

    #ago(iso) {
      if (!this.#format) {
        const options = { numeric: "auto" };
        try {
          this.#format = new Intl.RelativeTimeFormat(this.getAttribute("locale") || undefined, options);
        } catch {
          this.#format = new Intl.RelativeTimeFormat(undefined, options);
        }
      }
      const seconds = (Date.parse(iso) - Date.now()) / 1000;
      const [unit, size] = UNITS.find(([, length]) => Math.abs(seconds) >= length) || ["second", 1];
      return this.#format.format(unit === "second" ? 0 : Math.round(seconds / size), unit);
    }

    #renderTimes() {
      for (const { item, node } of this.#rows.values()) node.querySelector("time").textContent = this.#ago(item.created_at);
    }

    #renderList() {
      this.#ui.empty.hidden = this.#rows.size > 0 || this.#loading;
      this.#ui.more.hidden = !this.#cursor;
    }

    #setCounts({ unread, unseen }, emit) {
      this.#counts = { unread, unseen };
      this.#renderCounts();
      if (emit) this.#emit("counts", { unread, unseen });
    }

    #renderCounts() {
      const { unread } = this.#counts;
      this.#ui.badge.hidden = unread === 0;
      this.#ui.badge.textContent = unread > 99 ? "99+" : unread;
      this.#ui.bell.setAttribute("aria-label", `Notifications, ${unread} unread`);
    }

    #mark(ids, field) {
      const now = new Date().toISOString();
      for (const id of ids) {
        const item = this.#rows.get(id)?.item;
        if (item && !item[field]) this.#upsert({ ...item, [field]: now }, false);
      }
    }

    async #post(action, ids, keepalive = false) {
      for (let i = 0; i < ids.length; i += MAX_IDS) {
        try {
          const answer = await this.#request("POST", `/${action}`, { ids: ids.slice(i, i + MAX_IDS) }, keepalive);
          this.#setCounts(answer.counts, true);
        } catch {}
      }
    }

    #markSeen(items) {
      const ids = items.filter((item) => !item.seen_at).map((item) => item.id);
      if (!ids.length) return;
      this.#mark(ids, "seen_at");
      this.#post("seen", ids);
    }

    #openItem(id) {
      const item = this.#rows.get(id)?.item;
      if (!item) return;
      const target = safeUrl(item.action_url);
      if (!item.read_at) {
        this.#mark([id], "read_at");
        // keepalive: the request outlives this page when the link navigates away.
        this.#post("read", [id], target !== null);
      }
      if (target) window.location.assign(target);
    }

    #archive(id) {
      const node = this.#rows.get(id)?.node;
      const next = node?.nextElementSibling || node?.previousElementSibling;
      this.#remove(id);
      this.#renderList();
      (next ? next.querySelector(".open") : this.#ui.panel).focus();
      this.#post("archive", [id]);
    }

    async #readAll() {
      this.#mark([...this.#rows.keys()], "read_at");
      try {
        this.#setCounts((await this.#request("POST", "/read-all", {})).counts, true);
      } catch {}
    }

    #onKey(event) {
      if (event.key === "Escape" && this.isOpen) {
        event.preventDefault();
        this.close(true);
        return;
      }
      const step = { ArrowDown: 1, ArrowUp: -1 }[event.key];
      const buttons = [...this.#ui.list.querySelectorAll(".open")];
      if (!step || !buttons.length) return;
      event.preventDefault();
      const at = buttons.indexOf(this.#root.activeElement);
      buttons[Math.max(0, Math.min(buttons.length - 1, at < 0 ? 0 : at + step))].focus();
    }

    #emit(name, detail) {
      this.dispatchEvent(new CustomEvent(`herald-inbox:${name}`, { detail, bubbles: true, composed: true }));
    }
  }

  customElements.define("herald-inbox", HeraldInbox);
})();
