/* kit live: the projector page. It follows the console by itself: pushed events, polling as the
   fallback. It shows only what the server sends: counts and published, revealed results. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("kit-config").textContent);
  var lang = cfg.lang;
  var C = window.KitCharts;
  var base = cfg.prefix + "/api/p/" + encodeURIComponent(cfg.code) + "/";
  var query = "?t=" + encodeURIComponent(cfg.ticket) + "&lang=" + lang;
  var state = null, skew = 0, pollTimer = null, source = null, streaming = false;
  var statusLine = document.getElementById("status-line");

  function T(key, fields) {
    var s = (cfg.texts[lang] || {})[key] || key;
    if (fields) { Object.keys(fields).forEach(function (k) { s = s.split("{" + k + "}").join(fields[k]); }); }
    return s;
  }
  function $(id) { return document.getElementById(id); }

  function renderEnded() {  // the session is over: a clear end screen, nothing of the rounds
    document.title = state.title;
    document.body.classList.add("ended");
    $("join").hidden = true;
    $("round-title").textContent = T("projector.ended");
    $("round-prompt").textContent = state.title;
    $("answered").textContent = T("projector.thanks");
    $("results").replaceChildren();
    $("timer").hidden = true;
  }

  function render() {
    if (!state) { return; }
    if (state.ended) { renderEnded(); return; }
    document.title = state.title + " · " + state.display_code;
    $("join-at").textContent = T("projector.join_at", { url: state.join_url.replace(/^https?:\/\//, "").split("/s/")[0] });
    $("join-code").textContent = state.display_code;
    $("join-qr").src = cfg.qr;
    $("join-qr").alt = state.join_url;
    $("join-url").textContent = state.join_url;
    var r = state.round;
    var results = $("results");
    if (!r) {
      $("round-title").textContent = state.title;
      $("round-prompt").textContent = T("waiting");
      $("answered").textContent = "";
      results.replaceChildren();
      tick();
      return;
    }
    $("round-title").textContent = r.question || r.title;
    $("round-prompt").textContent = r.question ? r.title : r.prompt;
    var expected = state.expected;
    $("answered").textContent = r.answerable === false ? "" : (expected ?
      T("projector.answered_of", { n: r.answered, expected: expected }) : T("projector.answered", { n: r.answered }));
    var nodes = [];
    var res = state.results;
    if (!r.revealed) {
      nodes.push(C.el("p", { cls: "note", text: r.status === "open" ? T("projector.answer_now") : T("projector.not_revealed") }));
    } else if (res) {
      var pub = res.published || {};
      if (res.hidden || !pub.version) {
        nodes.push(C.el("p", { cls: "note", text: T("results_hidden", { n: res.min_n }) }));
      } else {
        var drawn = C.render(r, res, T, lang) || [];
        if (res.before) {
          var before = C.render(r, res.before, T, lang) || [C.el("p", { cls: "note", text: T("results_hidden", { n: res.min_n }) })];
          nodes.push(C.el("div", { cls: "pair" }, [
            C.el("div", {}, [C.el("h2", { text: T("projector.before") })].concat(before)),
            C.el("div", {}, [C.el("h2", { text: T("projector.after") })].concat(drawn))]));
        } else {
          nodes = nodes.concat(drawn);
        }
        nodes.push(C.el("p", { cls: "note", text: T("version", { n: res.respondents, version: pub.version, min_n: res.min_n }) }));
      }
    }
    results.replaceChildren.apply(results, nodes);
    tick();
  }

  function tick() {  // the round timer, counted down locally between events
    var el = $("timer");
    var r = state && state.round;
    if (!r || !r.timer || r.status !== "open" || state.ended) { el.hidden = true; return; }
    var left = Math.max(0, Math.round(r.timer.ends_at - (Date.now() / 1000 - skew)));
    el.hidden = false;
    el.textContent = left > 0 ? Math.floor(left / 60) + ":" + ("0" + (left % 60)).slice(-2) : T("projector.time_up");
    el.classList.toggle("low", left <= 10);
  }
  setInterval(tick, 250);

  function handle(data) {
    if (!data.ok) { statusLine.textContent = data.message || ""; statusLine.className = "bad"; return; }
    skew = Date.now() / 1000 - data.now;
    state = data;
    statusLine.textContent = ""; statusLine.className = "";
    render();
  }
  function poll() {
    clearTimeout(pollTimer);
    fetch(base + "state" + query, { headers: { "X-Kit-Lang": lang } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        handle(data);
        if (data.ended) { stopListening(); return; }  // nothing will change any more
        if (!streaming) { pollTimer = setTimeout(poll, 2000); }
      })
      .catch(function () {
        statusLine.textContent = T("offline"); statusLine.className = "bad";
        if (!streaming) { pollTimer = setTimeout(poll, 3000); }
      });
  }
  var over = false;
  function stopListening() {
    over = true; streaming = false; clearTimeout(pollTimer);
    if (source) { source.close(); source = null; }
  }
  function listen() {
    if (over) { return; }
    if (!window.EventSource) { poll(); return; }
    source = new EventSource(base + "events" + query);
    source.addEventListener("open", function () { streaming = true; clearTimeout(pollTimer); });
    source.addEventListener("state", function (ev) {
      streaming = true; clearTimeout(pollTimer);
      var data = null;
      try { data = JSON.parse(ev.data); } catch (e) { return; /* broken: the next one comes */ }
      handle(data);
      if (data.ended) { stopListening(); }
    });
    source.onerror = function () {
      if (over) { return; }
      streaming = false; clearTimeout(pollTimer); pollTimer = setTimeout(poll, 3000);
      if (source.readyState === 2) { source = null; setTimeout(listen, 30000); }
    };
  }
  document.documentElement.lang = lang;
  poll();
  listen();
})();
