/* kit live: the participant page. Plain JS, no libraries, no CDN.
   Everything a participant or facilitator typed is put on the page with textContent, never as HTML. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("kit-config").textContent);
  var lang = cfg.lang;
  var code = cfg.code;
  var app = document.getElementById("app");
  var statusLine = document.getElementById("status-line");
  var api = cfg.prefix + "/api/s/" + encodeURIComponent(code || "") + "/";
  var tokenKey = "kit-live-token-" + code;
  var groupKey = "kit-live-group-" + code;
  var state = null;          // last state from the server
  var shownSignature = "";   // what is rendered now
  var mine = {};             // round id -> question -> {value, text, data}
  var drafts = {};           // round id -> text being typed
  var votes = {};            // round id -> statement id -> dots
  var pollTimer = null;
  var needMine = true;       // ask for the participant's own answers (first load, new rounds)
  var admitted = true;       // false while the facilitator has not let this phone in
  var lastRev = "";

  function T(key, fields) {
    var s = (cfg.texts[lang] || {})[key] || key;
    if (fields) { Object.keys(fields).forEach(function (k) { s = s.split("{" + k + "}").join(fields[k]); }); }
    return s;
  }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { e.textContent = attrs[k]; }
      else if (k === "cls") { e.className = attrs[k]; }
      else if (k.slice(0, 2) === "on") { e.addEventListener(k.slice(2), attrs[k]); }
      else { e.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { e.appendChild(c); } });
    return e;
  }
  function setStatus(text, kind) {
    statusLine.textContent = text || "";
    statusLine.className = kind || "";
  }
  function getToken() { try { return localStorage.getItem(tokenKey); } catch (e) { return null; } }
  function setToken(t) { try { localStorage.setItem(tokenKey, t); } catch (e) { /* private mode */ } }
  function randomId() {
    var a = new Uint8Array(12); (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function request(method, path, body) {
    var opts = { method: method, headers: { "X-Kit-Lang": lang } };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(api + path, opts).then(function (r) {
      return r.json().catch(function () { return { ok: false, message: T("offline") }; })
        .then(function (data) { data.httpStatus = r.status; return data; });
    });
  }

  // -- language and header ------------------------------------------------------------------
  var toggle = document.getElementById("lang-toggle");
  function renderHeader() {
    document.documentElement.lang = lang;
    toggle.textContent = T("language");
    document.getElementById("session-title").textContent = (state && state.title) || T("join_heading");
    document.title = T("title") + (code ? " " + code : "");
  }
  toggle.addEventListener("click", function () {
    lang = lang === "nb" ? "en" : "nb";
    shownSignature = "";
    renderHeader();
    if (code && !cfg.error) { poll(); listen(); } else { render(); }
  });

  // -- join page (no code yet) ---------------------------------------------------------------
  function renderJoinForm() {
    var input = el("input", { id: "code", autocomplete: "off", autocapitalize: "characters",
      inputmode: "text", maxlength: "12", cls: "big-code" });
    var form = el("form", { onsubmit: function (ev) {
      ev.preventDefault();
      var c = input.value.toUpperCase().replace(/[^A-Z0-9]/g, "");
      if (c) { window.location.href = cfg.prefix + "/s/" + encodeURIComponent(c) + "?lang=" + lang; }
    } }, [
      el("h1", { text: T("join_heading") }),
      el("label", { "for": "code", text: T("code_label") }), input,
      el("button", { type: "submit", cls: "primary", text: T("join_button") }),
      el("p", { cls: "note", text: T("anonymous") })
    ]);
    app.replaceChildren(form);
    input.focus();
  }

  function render() {
    renderHeader();
    if (!code) { renderJoinForm(); return; }
    if (cfg.error) { app.replaceChildren(el("p", { cls: "error", id: "error", text: cfg.error })); return; }
    renderRounds();
  }

  // -- joining and polling -------------------------------------------------------------------
  function join(group) {
    var body = {};  // the server makes the token; a token it made before rejoins
    if (getToken()) { body.token = getToken(); }
    if (group) { body.group = group; }
    return request("POST", "join", body).then(function (data) {
      if (!data.ok && data.error === "error.token_unknown" && body.token) {
        setToken(""); delete body.token;  // a token from an older database: join afresh
        return request("POST", "join", body);
      }
      return data;
    }).then(function (data) {
      if (!data.ok) { cfg.error = data.message; render(); throw new Error(data.message); }
      admitted = data.admitted !== false;
      setToken(data.token);
      if (group) { try { localStorage.setItem(groupKey, group); } catch (e) { /* ignore */ } }
      return data.token;
    });
  }

  // Pushed updates: one event stream per phone; polling every 2 s only while it is down.
  var source = null;
  var streaming = false;
  function listen() {
    if (source) { source.close(); source = null; }
    streaming = false;
    if (!window.EventSource || !getToken()) { return; }
    source = new EventSource(api + "events?lang=" + lang + "&token=" + encodeURIComponent(getToken()));
    source.addEventListener("open", function () { streaming = true; clearTimeout(pollTimer); });
    source.addEventListener("state", function (ev) {
      streaming = true; clearTimeout(pollTimer);
      var data; try { data = JSON.parse(ev.data); } catch (e) { return; }
      if (data.ok) { handle(data); }
    });
    source.addEventListener("gone", function (ev) {
      source.close(); source = null; streaming = false;
      try { cfg.error = JSON.parse(ev.data).message; } catch (e) { cfg.error = T("offline"); }
      render();
    });
    source.onerror = function () {
      streaming = false;
      clearTimeout(pollTimer);
      pollTimer = setTimeout(poll, 3000);  // the browser reconnects by itself; poll meanwhile
      if (source && source.readyState === 2) {  // refused (server busy): try again later
        source = null; setTimeout(listen, 30000);
      }
    };
  }

  function poll() {
    clearTimeout(pollTimer);
    var url = "state?lang=" + lang + "&token=" + encodeURIComponent(getToken() || "") +
      (needMine ? "&mine=1" : "") + (admitted ? "" : "&admission=1");
    return request("GET", url).then(function (data) {
      if (!data.ok) {
        cfg.error = data.message; render(); return;
      }
      handle(data);
      if (!streaming) { pollTimer = setTimeout(poll, 2000); }
    }).catch(function () {
      setStatus(T("offline"), "bad");
      if (!streaming) { pollTimer = setTimeout(poll, 3000); }
    });
  }

  function handle(data) {
      if (statusLine.className === "bad" && statusLine.textContent === T("offline")) { setStatus(""); }
      (data.mine || []).forEach(function (a) {
        mine[a.round_id] = mine[a.round_id] || {};
        mine[a.round_id][a.question] = a;
      });
      if (data.mine) { needMine = false; }
      if (data.admitted === true && !admitted) { admitted = true; shownSignature = ""; }
      if (data.admitted === false && admitted) { admitted = false; shownSignature = ""; }
      var rev = data.revision + "|" + JSON.stringify(data.rounds.map(function (r) { return r.id; }));
      if (state && rev !== lastRev) { needMine = true; }  // new rounds: fetch own answers next time
      lastRev = rev;
      state = data;
      var sig = lang + "|" + rev + "|" + admitted;
      if (sig !== shownSignature) { shownSignature = sig; render(); }
      drawResults(data.results || {});
      if (data.status && data.status !== "open") { window.location.reload(); }
  }

  function submit(round, answers) {
    setStatus(T("saving"));
    return request("POST", "answer", { token: getToken(), round: round.id, answers: answers })
      .then(function (data) {
        if (data.ok) { setStatus(T("saved") + " ✓", "ok"); return data; }
        setStatus(data.message, "bad");
        if (data.error === "error.participant_unknown") { join(null); }
        if (data.error === "error.not_admitted") { admitted = false; shownSignature = ""; poll(); }
        if (data.error === "error.round_closed" || data.error === "error.round_unknown") { shownSignature = ""; poll(); }
        throw new Error(data.message);
      }, function (err) { setStatus(T("offline"), "bad"); throw err; });
  }

  // -- rounds ----------------------------------------------------------------------------------
  function renderRounds() {
    var nodes = [];
    var groups = (state && state.groups) || [];
    var chosenGroup = null;
    try { chosenGroup = localStorage.getItem(groupKey); } catch (e) { /* ignore */ }
    if (groups.length > 1 && !chosenGroup) {
      nodes.push(el("h2", { text: T("choose_group") }));
      groups.forEach(function (g) {
        nodes.push(el("button", { type: "button", cls: "primary", text: g, onclick: function () {
          join(g).then(function () { shownSignature = ""; poll(); });
        } }));
      });
      app.replaceChildren.apply(app, nodes);
      return;
    }
    var rounds = (state && state.rounds) || [];
    if (!admitted) {
      nodes.push(el("p", { cls: "note", id: "waiting-admission", text: T("waiting_admission") }));
      nodes.push(el("p", { cls: "note", text: T("anonymous") }));
      app.replaceChildren.apply(app, nodes);
      return;
    }
    if (!rounds.length) {
      nodes.push(el("p", { cls: "note", id: "waiting", text: T("waiting") }));
      nodes.push(el("p", { cls: "note", text: T("anonymous") }));
    }
    rounds.forEach(function (r) {
      var box = el("section", { cls: "round", "data-round": r.id, "data-exercise": r.exercise }, [
        el("h1", { text: r.question || r.title }), el("p", { cls: "note", text: r.prompt })
      ]);
      if (r.timer && r.status === "open") {
        box.appendChild(el("p", { cls: "timer", "data-ends": String(r.timer.ends_at) }));
      }
      var render = renderers[r.exercise === "purpose" ? "purpose_" + r.phase :
        (r.exercise === "poll" ? "poll_" + r.kind : r.exercise)];
      if (render && r.answerable && r.status === "open") {
        render(r, box);
        box.appendChild(el("p", { cls: "note", text: T("change_note") }));
      } else if (r.status !== "open") {
        box.appendChild(el("p", { cls: "note", text: T("closed") }));
      }
      box.appendChild(el("div", { cls: "results", "data-results": r.id }));
      nodes.push(box);
    });
    app.replaceChildren.apply(app, nodes);
    tick();
  }

  function tick() {  // round timers, counted down between updates (the server closes the round)
    Array.prototype.forEach.call(document.querySelectorAll("[data-ends]"), function (t) {
      var left = Math.max(0, Math.round(Number(t.getAttribute("data-ends")) - Date.now() / 1000));
      t.textContent = left > 0 ? T("time_left", { time: Math.floor(left / 60) + ":" + ("0" + (left % 60)).slice(-2) }) : T("time_up");
      t.classList.toggle("low", left <= 10);
    });
  }
  setInterval(tick, 500);

  function own(r, q) { return (mine[r.id] || {})[q]; }
  function remember(r, q, a) { mine[r.id] = mine[r.id] || {}; if (a) { mine[r.id][q] = a; } else { delete mine[r.id][q]; } }

  // A text box whose sent texts are listed, each with a remove button (Q&A entries, proposed
  // actions): ``field`` names what is sent, ``heading`` the list's title.
  function entryBox(r, box, area, field, heading, sent) {
    var list = el("ul", { cls: "entries" });
    function drawMine() {
      list.replaceChildren();
      Object.keys(mine[r.id] || {}).forEach(function (q) {
        if (q.indexOf("entry:") !== 0) { return; }
        list.appendChild(el("li", {}, [el("span", { text: mine[r.id][q].text }),
          el("button", { type: "button", cls: "small", text: T("remove"), onclick: function () {
            submit(r, { remove: q.slice(6) }).then(function () { remember(r, q, null); drawMine(); }, function () {});
          } })]));
      });
    }
    box.appendChild(area);
    box.appendChild(el("button", { type: "button", cls: "primary", text: T("send"), onclick: function () {
      var id = randomId(), text = area.value, body = {};
      body[field] = { id: id, text: text };
      submit(r, body).then(function () {
        remember(r, "entry:" + id, { text: text.trim() }); area.value = "";
        if (sent) { sent(); }
        drawMine();
      }, function () {});
    } }));
    box.appendChild(el("h2", { text: T(heading) }));
    box.appendChild(list);
    drawMine();
  }

  var renderers = {
    pulse: function (r, box) {
      r.items.forEach(function (item) {
        var row = el("div", { cls: "scale" });
        var card = el("div", { cls: "card", "data-item": item.id }, [el("p", { cls: "q", text: item.text }), row]);
        var buttons = [];
        function mark() {
          var a = own(r, item.id);
          buttons.forEach(function (b) {
            var v = b.getAttribute("data-value");
            var on = a && ((v === "na" && a.value === null) || (a.value !== null && String(a.value) === v));
            b.classList.toggle("chosen", !!on);
            b.setAttribute("aria-pressed", on ? "true" : "false");
          });
        }
        function choose(v) {
          var answers = {}; answers[item.id] = v === "na" ? null : Number(v);
          submit(r, answers).then(function () {
            remember(r, item.id, { value: v === "na" ? null : Number(v), text: v === "na" ? "na" : null });
            mark();
          }, function () { /* message shown */ });
        }
        for (var v = r.scale.min; v <= r.scale.max; v++) {
          var label = r.scale.labels[v - r.scale.min] || "";
          var b = el("button", { type: "button", "data-value": String(v), title: label,
            onclick: (function (val) { return function () { choose(val); }; })(String(v)) },
            [document.createTextNode(String(v)), el("span", { cls: "lab", text: label })]);
          buttons.push(b); row.appendChild(b);
        }
        if (r.scale.na) {
          var nb = el("button", { type: "button", cls: "na", "data-value": "na", text: r.scale.na,
            onclick: function () { choose("na"); } });
          buttons.push(nb); row.appendChild(nb);
        }
        mark();
        box.appendChild(card);
      });
    },
    purpose_write: function (r, box) {
      var prior = own(r, "statement");
      var area = el("textarea", { maxlength: String(r.max_length), placeholder: T("statement_placeholder"),
        "aria-label": r.title, oninput: function () { drafts[r.id] = area.value; } });
      area.value = drafts[r.id] !== undefined ? drafts[r.id] : (prior ? prior.text : "");
      box.appendChild(area);
      box.appendChild(el("button", { type: "button", cls: "primary", text: T("send"), onclick: function () {
        submit(r, { statement: area.value }).then(function () {
          remember(r, "statement", area.value.trim() ? { text: area.value.trim() } : null);
        }, function () {});
      } }));
    },
    purpose_vote: function (r, box) {
      var given = votes[r.id];
      if (!given) {
        given = votes[r.id] = {};
        Object.keys(mine[r.id] || {}).forEach(function (q) {
          if (q.indexOf("vote:") === 0) { given[q.slice(5)] = mine[r.id][q].value; }
        });
      }
      var left = el("p", { cls: "note" });
      function total() { return Object.keys(given).reduce(function (s, k) { return s + (given[k] || 0); }, 0); }
      function update() { left.textContent = T("dots_left", { n: r.dots - total() }); }
      r.statements.forEach(function (s) {
        var n = el("span", { cls: "n", text: String(given[s.id] || 0) });
        function change(d) {
          var next = (given[s.id] || 0) + d;
          if (next < 0 || (d > 0 && total() >= r.dots)) { return; }
          given[s.id] = next; n.textContent = String(next); update();
        }
        box.appendChild(el("div", { cls: "card", "data-statement": s.id }, [
          el("p", { cls: "q", text: s.text }),
          el("div", { cls: "dots" }, [
            el("button", { type: "button", text: "−", "aria-label": "-", onclick: function () { change(-1); } }), n,
            el("button", { type: "button", text: "+", "aria-label": "+", onclick: function () { change(1); } })
          ])
        ]));
      });
      update();
      box.appendChild(left);
      box.appendChild(el("button", { type: "button", cls: "primary", text: T("send"), onclick: function () {
        submit(r, { votes: given }).catch(function () {});
      } }));
    },
    agenda_audit: function (r, box) {
      var title = el("input", { maxlength: "120", "aria-label": T("item_title") });
      var minutes = el("input", { type: "number", min: "1", max: String(r.max_minutes), inputmode: "numeric" });
      function select(options) {
        var s = el("select");
        options.forEach(function (o) { s.appendChild(el("option", { value: o.id, text: o.label })); });
        return s;
      }
      var kind = select(r.kinds), focus = select(r.focuses);
      var list = el("ul", { cls: "entries" });
      function drawList() {
        list.replaceChildren();
        Object.keys(mine[r.id] || {}).forEach(function (q) {
          if (q.indexOf("entry:") !== 0) { return; }
          var d = mine[r.id][q].data || {};
          var labelOf = function (opts, id) { var o = opts.filter(function (x) { return x.id === id; })[0]; return o ? o.label : id; };
          list.appendChild(el("li", {}, [
            el("span", { text: d.title + " · " + d.minutes + " min · " + labelOf(r.kinds, d.kind) + " · " + labelOf(r.focuses, d.focus) }),
            el("button", { type: "button", cls: "small", text: T("remove"), onclick: function () {
              submit(r, { remove: q.slice(6) }).then(function () { remember(r, q, null); drawList(); }, function () {});
            } })
          ]));
        });
      }
      box.appendChild(el("div", { cls: "card" }, [
        el("label", { text: T("item_title") }), title,
        el("div", { cls: "row" }, [
          el("div", {}, [el("label", { text: T("minutes") }), minutes]),
          el("div", {}, [el("label", { text: T("kind") }), kind]),
          el("div", {}, [el("label", { text: T("focus") }), focus])
        ]),
        el("button", { type: "button", cls: "primary", text: T("add_item"), onclick: function () {
          var entry = { id: randomId(), title: title.value, minutes: Number(minutes.value), kind: kind.value, focus: focus.value };
          submit(r, { entry: entry }).then(function () {
            remember(r, "entry:" + entry.id, { data: { title: entry.title.trim(), minutes: entry.minutes, kind: entry.kind, focus: entry.focus } });
            title.value = ""; minutes.value = ""; drawList();
          }, function () {});
        } })
      ]));
      box.appendChild(el("h2", { text: T("your_items") }));
      box.appendChild(list);
      drawList();
      var prior = (own(r, "wanted") || {}).data || {};
      var inputs = {};
      var sum = el("p", { cls: "note" });
      function updateSum() {
        var n = Object.keys(inputs).reduce(function (s, k) { return s + (Number(inputs[k].value) || 0); }, 0);
        sum.textContent = T("total", { n: n });
      }
      var row = el("div", { cls: "row" });
      r.focuses.forEach(function (f) {
        inputs[f.id] = el("input", { type: "number", min: "0", max: "100", inputmode: "numeric", oninput: updateSum });
        inputs[f.id].value = prior[f.id] !== undefined ? prior[f.id] : "";
        row.appendChild(el("div", {}, [el("label", { text: f.label }), inputs[f.id]]));
      });
      updateSum();
      box.appendChild(el("div", { cls: "card" }, [
        el("h2", { text: T("wanted_heading") }), row, sum,
        el("button", { type: "button", cls: "primary", text: T("send"), onclick: function () {
          var wanted = {};
          Object.keys(inputs).forEach(function (k) { wanted[k] = Number(inputs[k].value) || 0; });
          submit(r, { wanted: wanted }).then(function () { remember(r, "wanted", { data: wanted }); }, function () {});
        } })
      ]));
    },
    stakeholder_map: function (r, box) {
      r.actors.forEach(function (actor) {
        var card = el("div", { cls: "card", "data-actor": actor.id }, [el("p", { cls: "q", text: actor.name })]);
        r.axes.forEach(function (axis) {
          var row = el("div", { cls: "scale" });
          var buttons = [];
          function mark() {
            var a = own(r, axis.id + ":" + actor.id);
            buttons.forEach(function (b) { b.classList.toggle("chosen", !!a && String(a.value) === b.getAttribute("data-value")); });
          }
          for (var v = r.scale.min; v <= r.scale.max; v++) {
            var b = el("button", { type: "button", "data-value": String(v), text: String(v),
              onclick: (function (val) { return function () {
                var ratings = {}; ratings[actor.id] = {}; ratings[actor.id][axis.id] = val;
                submit(r, { ratings: ratings }).then(function () { remember(r, axis.id + ":" + actor.id, { value: val }); mark(); }, function () {});
              }; })(v) });
            buttons.push(b); row.appendChild(b);
          }
          card.appendChild(el("label", { text: axis.label }));
          card.appendChild(row);
          mark();
        });
        box.appendChild(card);
      });
    }
    ,
    poll_scale: function (r, box) {
      var row = el("div", { cls: "scale" });
      var buttons = [];
      function mark() {
        var a = own(r, "value");
        buttons.forEach(function (b) { b.classList.toggle("chosen", !!a && String(a.value) === b.getAttribute("data-value")); });
      }
      for (var v = r.scale.min; v <= r.scale.max; v++) {
        var lab = v === r.scale.min ? (r.scale.labels[0] || "") : (v === r.scale.max ? (r.scale.labels[1] || "") : "");
        var b = el("button", { type: "button", "data-value": String(v), onclick: (function (val) { return function () {
          submit(r, { value: val }).then(function () { remember(r, "value", { value: val }); mark(); }, function () {});
        }; })(v) }, [document.createTextNode(String(v)), el("span", { cls: "lab", text: lab })]);
        buttons.push(b); row.appendChild(b);
      }
      box.appendChild(el("div", { cls: "card" }, [row]));
      mark();
    },
    poll_ranking: function (r, box) {
      var order = r.options.map(function (o) { return o.id; });
      var prior = r.options.map(function (o) { var a = own(r, "rank:" + o.id); return a ? a.value : null; });
      if (prior.every(function (x) { return x !== null; })) {
        order.sort(function (a, b) { return prior[Number(a)] - prior[Number(b)]; });
      }
      var list = el("ol", { cls: "ranking" });
      function draw() {
        list.replaceChildren();
        order.forEach(function (id, pos) {
          var o = r.options[Number(id)];
          list.appendChild(el("li", { "data-option": id }, [el("span", { text: o.text }),
            el("span", { cls: "moves" }, [
              el("button", { type: "button", cls: "small", text: "↑", "aria-label": T("move_up"), onclick: function () {
                if (pos > 0) { order.splice(pos - 1, 0, order.splice(pos, 1)[0]); draw(); } } }),
              el("button", { type: "button", cls: "small", text: "↓", "aria-label": T("move_down"), onclick: function () {
                if (pos < order.length - 1) { order.splice(pos + 1, 0, order.splice(pos, 1)[0]); draw(); } } })])]));
        });
      }
      draw();
      box.appendChild(el("div", { cls: "card" }, [list]));
      box.appendChild(el("button", { type: "button", cls: "primary", text: T("send"), onclick: function () {
        var ranking = order.map(Number);
        submit(r, { ranking: ranking }).then(function () {
          ranking.forEach(function (id, pos) { remember(r, "rank:" + id, { value: pos + 1 }); });
        }, function () {});
      } }));
    },
    poll_points: function (r, box) {
      var inputs = {};
      var left = el("p", { cls: "note" });
      function update() {
        var n = Object.keys(inputs).reduce(function (s, k) { return s + (Number(inputs[k].value) || 0); }, 0);
        left.textContent = T("points_left", { n: r.points - n });
      }
      var card = el("div", { cls: "card" });
      r.options.forEach(function (o) {
        var a = own(r, "points:" + o.id);
        inputs[o.id] = el("input", { type: "number", min: "0", max: String(r.points), inputmode: "numeric", oninput: update, "aria-label": o.text });
        inputs[o.id].value = a ? a.value : "";
        card.appendChild(el("label", { text: o.text })); card.appendChild(inputs[o.id]);
      });
      card.appendChild(left);
      box.appendChild(card);
      update();
      box.appendChild(el("button", { type: "button", cls: "primary", text: T("send"), onclick: function () {
        var points = {};
        Object.keys(inputs).forEach(function (k) { var n = Number(inputs[k].value) || 0; if (n) { points[k] = n; } });
        submit(r, { points: points }).then(function () {
          Object.keys(inputs).forEach(function (k) { remember(r, "points:" + k, points[k] ? { value: points[k] } : null); });
        }, function () {});
      } }));
    },
    poll_matrix: function (r, box) {
      r.options.forEach(function (o) {
        var card = el("div", { cls: "card", "data-option": o.id }, [el("p", { cls: "q", text: o.text })]);
        ["x", "y"].forEach(function (axis) {
          var row = el("div", { cls: "scale" }), buttons = [];
          function mark() { var a = own(r, axis + ":" + o.id); buttons.forEach(function (b) { b.classList.toggle("chosen", !!a && String(a.value) === b.getAttribute("data-value")); }); }
          for (var v = r.scale.min; v <= r.scale.max; v++) {
            var b = el("button", { type: "button", "data-value": String(v), text: String(v), onclick: (function (val) { return function () {
              var m = {}; m[o.id] = {}; m[o.id][axis] = val;
              submit(r, { matrix: m }).then(function () { remember(r, axis + ":" + o.id, { value: val }); mark(); }, function () {});
            }; })(v) });
            buttons.push(b); row.appendChild(b);
          }
          card.appendChild(el("label", { text: r.axes[axis] })); card.appendChild(row); mark();
        });
        box.appendChild(card);
      });
    },
    wordcloud: function (r, box) {
      var inputs = [];
      var card = el("div", { cls: "card" });
      for (var k = 0; k < r.words; k++) {
        var a = own(r, "word:" + k);
        var i = el("input", { maxlength: String(r.max_length), "aria-label": T("word") + " " + (k + 1), autocomplete: "off" });
        i.value = a ? a.text : "";
        inputs.push(i); card.appendChild(i);
      }
      box.appendChild(card);
      box.appendChild(el("button", { type: "button", cls: "primary", text: T("send_words"), onclick: function () {
        var words = inputs.map(function (i) { return i.value; });
        submit(r, { words: words }).then(function () {
          words.forEach(function (w, k) { remember(r, "word:" + k, w.trim() ? { text: w.trim() } : null); });
        }, function () {});
      } }));
    },
    qa: function (r, box) {
      var area = el("textarea", { maxlength: String(r.max_length), placeholder: T("entry_placeholder"), "aria-label": r.title });
      area.value = drafts[r.id] || "";
      area.addEventListener("input", function () { drafts[r.id] = area.value; });
      entryBox(r, box, area, "entry", "your_entries", function () { drafts[r.id] = ""; });
      if ((r.entries || []).length) {
        box.appendChild(el("h2", { text: T("entries_shown") }));
        r.entries.forEach(function (e) {
          var b = el("button", { type: "button", cls: "small vote", "data-entry": String(e.id) });
          function mark() { var on = !!own(r, "vote:" + e.id); b.textContent = on ? "▲ " + T("upvoted") : "△ " + T("upvote"); b.classList.toggle("chosen", on); }
          b.addEventListener("click", function () {
            var on = !own(r, "vote:" + e.id);
            submit(r, { vote: e.id, on: on }).then(function () { remember(r, "vote:" + e.id, on ? { value: 1 } : null); mark(); }, function () {});
          });
          mark();
          box.appendChild(el("div", { cls: "card qa" }, [el("p", { cls: "q", text: e.text }), b]));
        });
      }
    },
    boundedness: function (r, box) {
      var area = el("textarea", { placeholder: T("names_placeholder").split("\\n").join("\n"), "aria-label": r.title });
      var prior = Object.keys(mine[r.id] || {}).filter(function (q) { return q.indexOf("name:") === 0; })
        .map(function (q) { return mine[r.id][q].text; });
      area.value = drafts[r.id] !== undefined ? drafts[r.id] : (prior.length ? prior.join("\n") : (r.names || []).join("\n"));
      area.addEventListener("input", function () { drafts[r.id] = area.value; });
      box.appendChild(area);
      box.appendChild(el("button", { type: "button", cls: "primary", text: T("send"), onclick: function () {
        var names = area.value.split("\n").map(function (x) { return x.trim(); }).filter(Boolean);
        submit(r, { names: names }).then(function () {
          Object.keys(mine[r.id] || {}).forEach(function (q) { if (q.indexOf("name:") === 0) { remember(r, q, null); } });
          names.forEach(function (n, k) { remember(r, "name:" + k, { text: n }); });
        }, function () {});
      } }));
    },
    decision_review: function (r, box) {
      r.decisions.forEach(function (d) {
        var a = (own(r, "decision:" + d.id) || {}).data || { sources: [] };
        var boxes = {};
        var card = el("div", { cls: "card", "data-decision": d.id }, [el("p", { cls: "q", text: d.text })]);
        r.sources.forEach(function (src) {
          var c = el("input", { type: "checkbox", "data-source": src.id });
          c.checked = a.sources.indexOf(src.id) >= 0;
          boxes[src.id] = c;
          card.appendChild(el("label", { cls: "check" }, [c, document.createTextNode(" " + src.label)]));
        });
        card.appendChild(el("button", { type: "button", cls: "primary", text: T("send"), onclick: function () {
          var chosen = r.sources.map(function (s) { return s.id; }).filter(function (id) { return boxes[id].checked; });
          var marks = {}; marks[d.id] = chosen;
          submit(r, { marks: marks }).then(function () { remember(r, "decision:" + d.id, { value: chosen.length, data: { sources: chosen } }); }, function () {});
        } }));
        box.appendChild(card);
      });
    },
    action_plan: function (r, box) {
      var area = el("textarea", { maxlength: String(r.max_length), placeholder: T("proposal_placeholder"), "aria-label": r.title });
      entryBox(r, box, area, "proposal", "your_proposals", null);
    }
  };

  // -- revealed results (the facilitator decides when) ----------------------------------------
  var COLOURS = ["#b35806", "#f1a340", "#d9d9d9", "#998ec3", "#542788"];
  function bar(parts) {  // parts: [{n, colour, label}]
    var total = parts.reduce(function (s, p) { return s + p.n; }, 0) || 1;
    var b = el("div", { cls: "bar" });
    parts.forEach(function (p) {
      if (!p.n) { return; }
      var seg = el("span", { title: p.label + ": " + p.n, text: p.n > 0 ? String(p.n) : "" });
      seg.style.width = (100 * p.n / total) + "%";
      seg.style.background = p.colour;
      b.appendChild(seg);
    });
    return b;
  }
  function drawResults(results) {
    Array.prototype.forEach.call(document.querySelectorAll("[data-results]"), function (box) {
      var res = results[box.getAttribute("data-results")];
      var r = ((state && state.rounds) || []).filter(function (x) { return String(x.id) === box.getAttribute("data-results"); })[0];
      var nodes = [];
      if (res && r) {
        nodes.push(el("h2", { text: T("results") }));
        var pub = res.published || {};
        if (res.hidden || !pub.version) {
          nodes.push(el("p", { cls: "note", text: T("results_hidden", { n: res.min_n }) }));
        } else {
          nodes.push(el("p", { cls: "note version", text: T("version", { n: res.respondents, version: pub.version, min_n: res.min_n }) }));
        }
        if (res.hidden || !pub.version) {
          /* nothing else: no number below the threshold */
        } else if (r.exercise === "pulse") {
          {
            (res.items || []).forEach(function (it) {
              if (it.hidden) {
                nodes.push(el("p", { cls: "q", text: it.text }));
                nodes.push(el("p", { cls: "note item-hidden", text: T("item_hidden", { n: res.min_n }) }));
                return;
              }
              var parts = (res.scale || []).map(function (v, i) {
                return { n: it[String(v)] || 0, colour: COLOURS[Math.round(i * 4 / Math.max(1, res.scale.length - 1))], label: (r.scale && r.scale.labels[i]) || String(v) };
              });
              nodes.push(el("p", { cls: "q", text: (it.disagreement ? "◆ " : "") + it.text }));
              nodes.push(bar(parts));
            });
          }
        } else if (r.exercise === "purpose") {
          if (res.agreed) { nodes.push(el("p", { cls: "agreed", text: res.agreed })); }
          (res.statements || []).forEach(function (st) {
            var votesText = st.votes === null || st.votes === undefined ? "" : " · " + T("votes", { n: st.votes });
            nodes.push(el("p", { cls: "q", text: st.text + votesText }));
          });
        } else if (window.KitCharts && ["poll", "wordcloud", "qa", "boundedness", "decision_review"].indexOf(r.exercise) >= 0) {
          nodes = nodes.concat(KitCharts.render(r, res, T, lang) || []);
        } else if (r.exercise === "agenda_audit") {
          (res.split || []).forEach(function (row) {
            var label = ((r.focuses || []).filter(function (f) { return f.id === row.focus; })[0] || {}).label || row.focus;
            var pct = function (x) { return x === null || x === undefined ? "–" : Math.round(100 * x) + " %"; };
            nodes.push(el("p", { cls: "q", text: label + ": " + T("actual_wanted", { actual: pct(row.actual), wanted: pct(row.wanted) }) }));
          });
        }
      }
      box.replaceChildren.apply(box, nodes);
    });
  }

  // -- start -----------------------------------------------------------------------------------
  render();
  if (code && !cfg.error) {
    join(null).then(function () { poll(); listen(); }, function () { /* error shown */ });
  }
})();
