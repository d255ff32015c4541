/* kit survey: the invitee's page. Plain JS, no libraries, no CDN, no inline script.
   The invitation code is read from the part of the link after '#' (never sent to a server by
   the browser) and sent only in request bodies. Half-finished answers are kept in localStorage
   under a name the server derives from the code, and removed once the server has them.
   Everything shown is put on the page with textContent, never as HTML. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("kit-config").textContent);
  var lang = cfg.lang;
  var app = document.getElementById("app");
  var statusLine = document.getElementById("status-line");
  var toggle = document.getElementById("lang-toggle");
  var code = readCode();
  var survey = null;   // the server's answer to "open": group, instrument, rules
  var draft = null;    // {answers, comments, page, lang}
  var notice = null;   // {kind, titles|title key, messages|message key}: a refusal or done
  var pageError = null; // {messages}: a refused submission, shown on the review page
  var sending = false;

  // -- helpers ---------------------------------------------------------------------------------
  function T(key, fields) {
    var s = (cfg.texts[lang] || {})[key] || key;
    if (fields) {
      Object.keys(fields).forEach(function (k) { s = s.split("{" + k + "}").join(String(fields[k])); });
    }
    return s;
  }
  function L(texts) { return (texts && (texts[lang] || texts.nb || texts.en)) || ""; }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) { return; }
      if (k === "text") { e.textContent = v; }
      else if (k === "cls") { e.className = v; }
      else if (k.slice(0, 2) === "on") { e.addEventListener(k.slice(2), v); }
      else { e.setAttribute(k, v === true ? "" : v); }
    });
    (children || []).forEach(function (c) { if (c) { e.appendChild(c); } });
    return e;
  }
  function setStatus(text, kind) {
    statusLine.textContent = text || ""; statusLine.className = kind || "";
    statusLine.parentNode.hidden = !text;
  }
  function readCode() {
    var hash = window.location.hash.replace(/^#/, "");
    var m = /(?:^|&)code=([^&]*)/.exec(hash);
    var c = m ? m[1] : (hash.indexOf("=") < 0 ? hash : "");
    var q = /[?&]code=([^&#]*)/.exec(window.location.search);
    if (!c && q) { c = q[1]; }
    try { c = decodeURIComponent(c || ""); } catch (e) { c = ""; }
    c = c.trim();
    if (q || window.location.pathname !== cfg.api.replace(/\/api$/, "")) {
      // a link from before the survey left Voila: keep the code out of the address's query
      var langPart = cfg.langChosen ? "?lang=" + lang : "";
      try { window.history.replaceState(null, "", cfg.api.replace(/\/api$/, "") + langPart + (c ? "#code=" + encodeURIComponent(c) : "")); } catch (e) { /* old browser */ }
    }
    return c;
  }
  function post(path, body) {
    body.lang = lang;
    return fetch(cfg.api + "/" + path, {
      method: "POST", credentials: "omit", cache: "no-store",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return { ok: false, error: "server" }; })
        .then(function (d) { d.httpStatus = r.status; return d; });
    }).catch(function () { return { ok: false, error: "offline", httpStatus: 0 }; });
  }
  function messagesOf(res) {
    if (res.messages) { return res.messages; }
    var key = res.error === "offline" ? "survey.page.offline" : "survey.error.server";
    return { nb: cfg.texts.nb[key], en: cfg.texts.en[key] };
  }

  // -- the draft on this device ------------------------------------------------------------------
  function draftKey() { return "kit-survey-" + survey.draft; }
  function loadDraft() {
    var empty = { answers: {}, comments: {}, page: 0, lang: null };
    var raw = null;
    try { raw = window.localStorage.getItem(draftKey()); } catch (e) { return empty; }
    if (!raw) { return empty; }
    try {
      var d = JSON.parse(raw), ok = {};
      var allowed = survey.instrument.scale.values.concat(["na"]);
      allItems().forEach(function (id) {
        if (d.answers && allowed.indexOf(d.answers[id]) >= 0) { ok[id] = d.answers[id]; }
      });
      var comments = {};
      survey.instrument.open_questions.forEach(function (q) {
        if (d.comments && typeof d.comments[q.id] === "string") { comments[q.id] = d.comments[q.id].slice(0, cfg.maxComment); }
      });
      var page = typeof d.page === "number" ? Math.max(0, Math.min(d.page, pages().length - 1)) : 0;
      return { answers: ok, comments: comments, page: page, lang: d.lang === "nb" || d.lang === "en" ? d.lang : null, restored: true };
    } catch (e) { return empty; }
  }
  function saveDraft() {
    try {
      window.localStorage.setItem(draftKey(), JSON.stringify({ answers: draft.answers, comments: draft.comments, page: draft.page, lang: draft.lang }));
    } catch (e) { /* private mode or full: the answers stay on the page */ }
  }
  function clearDraft() {
    if (!survey) { return; }
    try { window.localStorage.removeItem(draftKey()); } catch (e) { /* nothing kept */ }
  }

  // -- the survey's structure --------------------------------------------------------------------
  function allItems() {
    var ids = [];
    survey.instrument.dimensions.forEach(function (d) { d.items.forEach(function (i) { ids.push(i.id); }); });
    return ids;
  }
  function pages() {
    var list = survey.instrument.dimensions.map(function (d) { return { kind: "dimension", dimension: d }; });
    if (survey.instrument.open_questions.length) { list.push({ kind: "open" }); }
    list.push({ kind: "review" });
    return list;
  }
  function answeredIn(items) {
    return items.filter(function (i) { var v = draft.answers[i.id || i]; return v !== undefined && v !== null; }).length;
  }
  function valuesGiven() {
    return allItems().filter(function (id) { return typeof draft.answers[id] === "number"; }).length;
  }

  // -- rendering -------------------------------------------------------------------------------
  function renderHeader() {
    document.documentElement.lang = lang;
    toggle.textContent = T("language.toggle");
    document.getElementById("survey-title").textContent = survey ? T("survey.title", { group: survey.group }) : T("site.title");
    document.getElementById("survey-subtitle").textContent = survey ? L(survey.instrument.name) : "";
    document.title = T("site.title");
  }
  function render(focus) {
    renderHeader();
    app.textContent = "";
    if (notice) { renderNotice(); return; }
    if (!code) { renderCodeForm(); return; }
    if (!survey) { app.appendChild(el("p", { cls: "lead", text: T("survey.page.loading") })); return; }
    var list = pages(), page = list[draft.page];
    app.appendChild(progress(list));
    if (page.kind === "dimension") { renderDimension(page.dimension); }
    else if (page.kind === "open") { renderOpen(); }
    else { renderReview(list); }
    app.appendChild(pager(list));
    if (focus) {
      window.scrollTo(0, 0);
      var h = app.querySelector("h2");
      if (h) { h.setAttribute("tabindex", "-1"); h.focus({ preventScroll: true }); }
    }
  }
  function renderNotice() {
    var title = notice.titles ? L(notice.titles) : T(notice.title);
    var body = notice.messages ? L(notice.messages) : T(notice.message);
    app.appendChild(el("section", { cls: "notice", "data-kit-notice": notice.kind }, [
      el("h1", { text: title }), el("p", { text: body })]));
    if (notice.kind === "refused" && notice.retry) {
      app.appendChild(el("nav", { cls: "pager" }, [el("button", { type: "button", cls: "secondary", text: T("survey.page.code_button"), onclick: start })]));
    }
  }
  function renderCodeForm() {
    var input = el("input", { id: "code", autocomplete: "off", autocapitalize: "none", spellcheck: "false", maxlength: "200" });
    app.appendChild(el("form", { onsubmit: function (ev) {
      ev.preventDefault();
      var c = input.value.trim().replace(/^.*#code=/, "");
      if (!c) { return; }
      code = c;
      try { window.history.replaceState(null, "", window.location.pathname + window.location.search + "#code=" + encodeURIComponent(c)); } catch (e) { /* old browser */ }
      start();
    } }, [
      el("h1", { text: T("survey.page.code_title") }),
      el("p", { cls: "lead", text: T("survey.page.code_help") }),
      el("label", { "for": "code", text: T("survey.page.code_label") }), input,
      el("nav", { cls: "pager" }, [el("button", { type: "submit", cls: "primary", text: T("survey.page.code_button") })])
    ]));
  }
  function progress(list) {
    var items = allItems().length;
    var text = T("survey.progress", { page: draft.page + 1, pages: list.length, answered: answeredIn(allItems()), items: items });
    var share = Math.round(100 * draft.page / Math.max(list.length - 1, 1));
    return el("div", {}, [
      el("div", { cls: "progress-text", "data-kit-progress": (draft.page + 1) + "/" + list.length, text: text }),
      el("div", { cls: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(share) },
        [el("div", { style: null, "data-share": String(share) })])
    ]);
  }
  function renderDimension(dim) {
    if (draft.page === 0) { app.appendChild(el("p", { cls: "lead", text: T("survey.intro", { min_n: survey.min_n }) })); }
    app.appendChild(el("h2", { text: L(dim.name) }));
    app.appendChild(el("p", { cls: "lead", text: L(dim.description) }));
    var scale = survey.instrument.scale, labels = L(scale.labels);
    var legend = el("ul", { cls: "legend", "aria-label": T("survey.page.legend") });
    scale.values.forEach(function (v, k) { legend.appendChild(el("li", {}, [el("b", { text: String(v) }), document.createTextNode(" " + labels[k])])); });
    app.appendChild(legend);
    dim.items.forEach(function (item) { app.appendChild(itemCard(item, labels)); });
  }
  function itemCard(item, labels) {
    var scale = survey.instrument.scale;
    var row = el("div", { cls: "scale", role: "group", "aria-label": L(item.text) });
    var buttons = [];
    function mark() {
      buttons.forEach(function (b) {
        var chosen = draft.answers[item.id] === b.value;
        b.el.className = (b.value === "na" ? "na " : "") + (chosen ? "chosen" : "");
        b.el.setAttribute("aria-pressed", chosen ? "true" : "false");
      });
    }
    function choose(value) {
      if (draft.answers[item.id] === value) { delete draft.answers[item.id]; } else { draft.answers[item.id] = value; }
      pageError = null;
      mark(); saveDraft(); refreshProgress();
    }
    scale.values.forEach(function (v, k) {
      var b = el("button", { type: "button", text: String(v), title: labels[k], "aria-label": v + " " + labels[k], "data-value": String(v), onclick: function () { choose(v); } });
      buttons.push({ value: v, el: b }); row.appendChild(b);
    });
    row.appendChild(el("div", { cls: "ends", "aria-hidden": "true" }, [el("span", { text: labels[0] }), el("span", { text: labels[labels.length - 1] })]));
    if (scale.not_applicable) {
      var na = el("button", { type: "button", text: L(scale.not_applicable), "data-value": "na", onclick: function () { choose("na"); } });
      buttons.push({ value: "na", el: na }); row.appendChild(na);
    }
    mark();
    return el("div", { cls: "card item", "data-item": item.id }, [el("p", { cls: "q", text: L(item.text) }), row]);
  }
  function refreshProgress() {
    var old = app.querySelector("[data-kit-progress]");
    if (old) { old.parentNode.replaceWith(progress(pages())); paintProgress(); }
  }
  function renderOpen() {
    app.appendChild(el("h2", { text: T("survey.open.title") }));
    app.appendChild(el("p", { cls: "lead", text: T("survey.open.help") }));
    survey.instrument.open_questions.forEach(function (q) {
      var area = el("textarea", { id: "q-" + q.id, maxlength: String(cfg.maxComment), "data-question": q.id, oninput: function () {
        draft.comments[q.id] = area.value; saveDraft();
      } });
      area.value = draft.comments[q.id] || "";
      app.appendChild(el("div", { cls: "card" }, [el("label", { "for": "q-" + q.id, cls: "q", text: L(q.text) }), area,
        el("div", { cls: "hint", text: T("survey.page.comment_limit", { limit: cfg.maxComment }) })]));
    });
  }
  function renderReview(list) {
    var items = allItems().length, missing = items - answeredIn(allItems());
    app.appendChild(el("h2", { text: T("survey.review.title") }));
    app.appendChild(el("p", { cls: "lead", text: missing ? T("survey.review.unanswered", { n: missing }) : T("survey.review.complete") }));
    var table = el("table", { cls: "review" });
    list.forEach(function (p, k) {
      if (p.kind !== "dimension") { return; }
      var d = p.dimension;
      table.appendChild(el("tr", {}, [el("td", { text: L(d.name) }),
        el("td", { cls: "num", text: answeredIn(d.items) + " / " + d.items.length }),
        el("td", { cls: "act" }, [el("button", { type: "button", cls: "small", text: T("survey.page.change"), onclick: function () { go(k); } })])]));
    });
    app.appendChild(table);
    var given = valuesGiven();
    if (given < survey.needed) {
      app.appendChild(el("p", { cls: "error", "data-kit-too-few": "1", text: T("survey.page.too_few", { needed: survey.needed, items: items, answered: given }) }));
    }
    if (pageError) { app.appendChild(el("p", { cls: "error", "data-kit-error": pageError.error, text: L(pageError.messages) })); }
    app.appendChild(el("p", { cls: "hint", text: T("survey.page.kept") }));
  }
  function pager(list) {
    var last = list.length - 1, nav = el("nav", { cls: "pager" });
    nav.appendChild(el("button", { type: "button", cls: "secondary", id: "previous", text: T("survey.previous"), disabled: draft.page === 0, onclick: function () { go(draft.page - 1); } }));
    if (draft.page < last) {
      nav.appendChild(el("button", { type: "button", cls: "primary", id: "next", text: draft.page === last - 1 ? T("survey.review") : T("survey.next"), onclick: function () { go(draft.page + 1); } }));
    } else {
      nav.appendChild(el("button", { type: "button", cls: "primary", id: "submit", text: sending ? T("survey.submitting") : T("survey.submit"),
        disabled: sending || valuesGiven() < survey.needed, onclick: submit }));
    }
    return nav;
  }
  function paintProgress() {
    var bar = app.querySelector("[data-share]");
    if (bar) { bar.style.width = bar.getAttribute("data-share") + "%"; }  // CSSOM: allowed by the CSP
  }
  function go(page) {
    draft.page = Math.max(0, Math.min(page, pages().length - 1));
    setStatus("");
    saveDraft(); render(true); paintProgress();
  }

  // -- talking to the server -----------------------------------------------------------------
  function refusal(res) {
    var kind = res.error === "used" ? "done" : "refused";
    if (res.error === "used" || res.error === "closed") { clearDraft(); }
    notice = { kind: kind, titles: res.titles || null, title: "invitation.title", messages: messagesOf(res),
               retry: res.error === "offline" || res.httpStatus >= 500 || res.error === "rate_limited" };
    render(true);
  }
  function start() {
    notice = null; survey = null; render(false);
    setStatus("");
    post("open", { code: code }).then(function (res) {
      if (!res.ok) { refusal(res); return; }
      survey = res;
      draft = loadDraft();
      if (draft.lang) { lang = draft.lang; } else if (!cfg.langChosen && res.language) { lang = res.language; }
      if (draft.restored && (Object.keys(draft.answers).length || Object.keys(draft.comments).length)) {
        setStatus(T("survey.page.restored"), "ok");
      }
      render(true); paintProgress();
    });
  }
  function submit() {
    if (sending) { return; }
    sending = true; pageError = null; render(false); paintProgress();
    post("submit", { code: code, answers: draft.answers, comments: draft.comments }).then(function (res) {
      sending = false;
      if (res.ok) {
        clearDraft();
        notice = { kind: "done", title: "survey.done.title", messages: res.messages };
        setStatus("");
        render(true);
        return;
      }
      if (res.httpStatus === 422 || res.error === "offline" || res.httpStatus >= 500 || res.httpStatus === 413 || res.httpStatus === 429) {
        pageError = { error: res.error, messages: messagesOf(res) };
        render(false); paintProgress();
        var shown = app.querySelector("[data-kit-error]");
        if (shown) { shown.scrollIntoView({ block: "center" }); }
        return;
      }
      refusal(res);
    });
  }

  toggle.addEventListener("click", function () {
    lang = lang === "nb" ? "en" : "nb";
    if (draft) { draft.lang = lang; saveDraft(); }
    render(false); paintProgress();
  });
  setStatus("");
  if (code) { start(); } else { render(false); }
}());
