// The span editor of span projects (annotate and review pages). The server draws the
// text as tokens (data-start/data-end: character offsets); spans are kept here as token
// ranges and written to the form's `spans` field as character offsets (JSON), which the
// submit checks. Keys: arrows move, Shift+arrows extend the selection, a label's key
// labels it (annotate.js presses the label's button), Backspace removes the span under
// the cursor or rejects the suggestion there, Shift+Enter accepts that suggestion, Esc
// clears the selection, Enter submits (annotate.js). Mouse: drag across tokens.
(() => {
  let ed = null;

  const overlaps = (a, b) => a.first <= b.last && b.first <= a.last;
  const at = (list, i) => list.find((s) => s.first <= i && i <= s.last);
  const byStart = (a, b) => a.first - b.first;

  function readJSON(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : [];
  }

  function toRange(span, tokens) {
    const first = tokens.findIndex((t) => t.end > span.start);
    let last = -1;
    tokens.forEach((t, i) => { if (t.start < span.end) last = i; });
    return first >= 0 && last >= first ? { first, last, label: span.label } : null;
  }

  function setup() {
    const root = document.getElementById("spans-editor");
    if (!root || root.dataset.ready) return;
    root.dataset.ready = "yes";
    const cells = [...root.querySelectorAll(".tok")];
    const gaps = cells.map((c) => c.nextElementSibling); // the spaces after each token
    const tokens = cells.map((c) => ({ start: +c.dataset.start, end: +c.dataset.end }));
    const colours = {};
    for (const b of document.querySelectorAll("#spans-form [data-span-label]")) {
      colours[b.dataset.spanLabel] = b.dataset.colour;
    }
    const ranges = (id) => readJSON(id).map((s) => toRange(s, tokens)).filter(Boolean);
    ed = { root, cells, gaps, tokens, colours, cursor: 0, anchor: 0, dragging: false,
      spans: ranges("spans-initial"), suggestions: ranges("spans-suggested") };
    draw("");
  }

  const words = (s) => ed.cells.slice(s.first, s.last + 1).map((c) => c.textContent).join(" ");
  const selection = () => ({
    first: Math.min(ed.cursor, ed.anchor), last: Math.max(ed.cursor, ed.anchor),
  });

  function put(span) {
    ed.spans = ed.spans.filter((s) => !overlaps(s, span)).concat(span).sort(byStart);
    ed.suggestions = ed.suggestions.filter((s) => !overlaps(s, span));
  }

  function label(name) {
    if (!ed.cells.length) return;
    const span = { ...selection(), label: name };
    put(span);
    ed.anchor = ed.cursor;
    draw(`Labelled “${words(span)}” ${name}.`);
  }

  function accept(s) {
    put(s);
    draw(`Accepted “${words(s)}” ${s.label}.`);
  }

  function reject(s) {
    ed.suggestions = ed.suggestions.filter((g) => g !== s);
    draw(`Rejected the suggestion “${words(s)}” ${s.label}.`);
  }

  function remove(s) {
    ed.spans = ed.spans.filter((x) => x !== s);
    draw(`Removed “${words(s)}” ${s.label}.`);
  }

  function removeAtCursor() {
    const s = at(ed.spans, ed.cursor);
    if (s) return remove(s);
    const g = at(ed.suggestions, ed.cursor);
    if (g) reject(g);
  }

  function tag(s, suggested) {
    const el = document.createElement("span");
    el.className = `ent-tag c${ed.colours[s.label] ?? 0}${suggested ? " sugg" : ""}`;
    el.textContent = suggested ? `${s.label}?` : s.label;
    ed.cells[s.last].after(el);
  }

  function mark(s, suggested) {
    for (let i = s.first; i <= s.last; i++) {
      const c = ed.cells[i];
      c.classList.add(suggested ? "sugg" : "ent", `c${ed.colours[s.label] ?? 0}`);
      if (i === s.first) c.classList.add("begins");
      if (i === s.last) c.classList.add("ends");
      else ed.gaps[i].classList.add(suggested ? "sugg" : "ent", `c${ed.colours[s.label] ?? 0}`);
    }
    tag(s, suggested);
  }

  function item(s, actions) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.className = `ent-tag c${ed.colours[s.label] ?? 0}`;
    name.textContent = s.label;
    li.append(`“${words(s)}” `, name);
    for (const [text, does] of actions) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "link";
      b.textContent = text;
      b.setAttribute("aria-label", `${text} “${words(s)}” ${s.label}`);
      b.addEventListener("click", () => { does(s); ed.root.focus(); });
      li.append(" ", b);
    }
    return li;
  }

  function lists() {
    const spans = document.getElementById("span-list");
    spans.replaceChildren(...ed.spans.map((s) => item(s, [["Remove", remove]])));
    if (!ed.spans.length) spans.append(Object.assign(document.createElement("li"), {
      className: "muted", textContent: "None yet.",
    }));
    const suggested = document.getElementById("suggestion-list");
    if (!suggested) return;
    suggested.replaceChildren(
      ...ed.suggestions.map((s) => item(s, [["Accept", accept], ["Reject", reject]])),
    );
    document.getElementById("suggestion-count").textContent = ed.suggestions.length;
  }

  function status(said) {
    if (!ed.cells.length) return said;
    const sel = selection();
    const span = at(ed.spans, ed.cursor) || at(ed.suggestions, ed.cursor);
    const where = span ? ` (in ${span.label}${ed.spans.includes(span) ? "" : ", suggested"})` : "";
    const picked = sel.first < sel.last ? ` Selected: “${words(sel)}”.` : "";
    return `${said} Cursor on “${ed.cells[ed.cursor].textContent}”${where}.${picked}`.trim();
  }

  function draw(said) {
    ed.root.querySelectorAll(".ent-tag").forEach((t) => t.remove());
    for (const c of ed.cells) c.className = "tok";
    for (const g of ed.gaps) g.className = "gap";
    ed.suggestions.forEach((s) => mark(s, true));
    ed.spans.forEach((s) => mark(s, false));
    const sel = selection();
    for (let i = sel.first; i <= sel.last && ed.cells.length; i++) {
      ed.cells[i].classList.add("sel");
      if (i < sel.last) ed.gaps[i].classList.add("sel");
    }
    if (ed.cells.length) {
      ed.cells[ed.cursor].classList.add("cursor");
      ed.root.setAttribute("aria-activedescendant", ed.cells[ed.cursor].id);
    }
    document.getElementById("spans-field").value = JSON.stringify(ed.spans.map((s) => ({
      start: ed.tokens[s.first].start, end: ed.tokens[s.last].end, label: s.label,
    })));
    lists();
    document.getElementById("spans-status").textContent = status(said);
  }

  function live() {
    return ed && document.body.contains(ed.root) ? ed : null;
  }

  function move(to, extend) {
    ed.cursor = Math.max(0, Math.min(ed.cells.length - 1, to));
    if (!extend) ed.anchor = ed.cursor;
    draw("");
  }

  // Capture: these keys are the editor's, before annotate.js sees them (Shift+Enter
  // must not submit).
  document.addEventListener("keydown", (event) => {
    if (!live() || !ed.cells.length || event.ctrlKey || event.metaKey || event.altKey) return;
    // typing() is annotate.js's (loaded first): what counts as typing is written once.
    if (document.querySelector("dialog[open]") || typing(event.target)) return;
    const key = event.key;
    if (key === "ArrowRight" || key === "ArrowLeft") {
      move(ed.cursor + (key === "ArrowRight" ? 1 : -1), event.shiftKey);
    } else if (key === "Home" || key === "End") {
      move(key === "Home" ? 0 : ed.cells.length - 1, event.shiftKey);
    } else if (key === "Backspace" || key === "Delete") {
      removeAtCursor();
    } else if (key === "Escape") {
      move(ed.cursor, false);
    } else if (key === "Enter" && event.shiftKey) {
      const g = at(ed.suggestions, ed.cursor);
      if (g) accept(g);
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }, true);

  document.addEventListener("pointerdown", (event) => {
    const cell = event.target instanceof Element && event.target.closest("#spans-editor .tok");
    if (!cell || !live()) return;
    event.preventDefault(); // no native text selection; the editor takes the focus
    ed.dragging = true;
    ed.root.focus();
    move(+cell.dataset.i, event.shiftKey);
  });

  document.addEventListener("pointerover", (event) => {
    const cell = event.target instanceof Element && event.target.closest("#spans-editor .tok");
    if (cell && live()?.dragging) move(+cell.dataset.i, true);
  });

  document.addEventListener("pointerup", () => { if (live()) ed.dragging = false; });

  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target || !live()) return;
    const button = target.closest("#spans-form [data-span-label]");
    if (button) label(button.dataset.spanLabel);
    else if (target.closest("#accept-all")) {
      const all = ed.suggestions.slice();
      all.forEach(put);
      draw(`Accepted ${all.length} suggestion${all.length === 1 ? "" : "s"}.`);
    } else if (target.closest("#reject-all")) {
      ed.suggestions = [];
      draw("Rejected every suggestion.");
    } else return;
    ed.root.focus();
  });

  document.addEventListener("DOMContentLoaded", setup);
  document.addEventListener("htmx:afterSwap", setup);
  document.addEventListener("htmx:load", setup);
})();
