"""The HTML review page's style sheet and script: inline, fixed text, no network.

The script reads the review from the page's JSON block and builds the matrix
with DOM calls (``textContent``, never ``innerHTML``), a page of people at a
time, showing only the account columns those people are in: a fleet of a
thousand accounts and fifty thousand users stays a page a browser can hold.
"""

from __future__ import annotations

import base64
import hashlib

STYLE = """
:root { color-scheme: light; --line: #d0d7de; --muted: #57606a; --flag: #cf222e; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 24px 24px;
  color: #1f2328; background: #fff; }
h1 { font-size: 22px; margin: 16px 0 4px; }
h2 { font-size: 16px; margin: 16px 0 6px; }
.headline { color: var(--muted); margin: 0 0 8px; }
.flags { list-style: none; padding: 0; margin: 0; display: grid;
  grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 6px 16px; }
.flags > li { border-left: 4px solid var(--flag); padding: 2px 8px; }
.flags > li.none { border-left-color: #1a7f37; color: var(--muted); }
.flags details ul { margin: 4px 0; padding-left: 18px; max-height: 160px; overflow: auto;
  color: var(--muted); font-size: 12px; }
.unreadable li { color: var(--flag); }
.controls { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 12px 0 8px;
  position: sticky; top: 0; background: #fff; padding: 6px 0; z-index: 3; }
.controls input, .controls select, .controls button { font: inherit; padding: 4px 8px;
  border: 1px solid var(--line); border-radius: 6px; background: #fff; }
.controls input[type=search] { width: 260px; }
.controls select { max-width: 360px; }
.legend { color: var(--muted); font-size: 12px; margin: 0 0 8px; }
.legend span { display: inline-block; padding: 0 6px; margin: 0 2px; border: 1px solid var(--line); }
#count { color: var(--muted); }
.scroller { overflow: auto; max-height: calc(100vh - 60px); border: 1px solid var(--line); }
table { border-collapse: separate; border-spacing: 0; font-size: 12px; }
th, td { border-right: 1px solid var(--line); border-bottom: 1px solid var(--line);
  padding: 3px 6px; white-space: nowrap; vertical-align: top; }
thead th { position: sticky; top: 0; background: #f6f8fa; z-index: 2; cursor: pointer;
  user-select: none; text-align: left; }
thead th:first-child { left: 0; z-index: 4; }
thead th.account { min-width: 90px; max-width: 140px; white-space: normal; }
thead th.single { color: var(--flag); }
thead th[aria-sort=ascending]::after { content: " \\25B2"; }
thead th[aria-sort=descending]::after { content: " \\25BC"; }
tbody th { position: sticky; left: 0; background: #fff; z-index: 1; text-align: left;
  font-weight: normal; }
tbody th .name { color: var(--muted); display: block; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.cell { min-width: 90px; }
.super_admin { background: #fff1e5; }
.partner_admin { background: #ddf4ff; }
.role { background: #f6f8fa; }
.unknown { background: #fbefff; }
.undeclared { font-style: italic; border-left: 2px dashed var(--muted); }
.flagged { box-shadow: inset 0 0 0 2px var(--flag); }
td .seat { color: var(--muted); display: block; }
.employee { color: #0969da; font-weight: 600; }
.badge { display: inline-block; min-width: 18px; padding: 0 5px; border-radius: 9px;
  background: var(--flag); color: #fff; text-align: center; }
"""

SCRIPT = r"""
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("review-data").textContent);
  var accounts = data.accounts; // [id, name, partner access, monthly cost, account flags]
  var PAGE = 100;
  var RANK = {super_admin: 5, partner_admin: 4, role: 3, basic: 2, unknown: 1};
  var LABEL = {super_admin: "Super Admin", partner_admin: "Partner Admin", basic: "basic",
    unknown: "unknown"};
  var people = data.people.map(function (p, index) {
    var cells = new Map(), words = [p[0], p[1]], flags = new Set();
    p[4].forEach(function (c) { // [account index, access, role, seat, teams, config, cost, flags]
      cells.set(c[0], c);
      words.push(c[2], c[4], c[3]);
      c[7].forEach(function (f) { flags.add(f); });
    });
    return {email: p[0], name: p[1], employee: p[2], cost: p[3] === null ? 0 : Number(p[3]),
      cells: cells, flags: flags, index: index, text: words.join(" ").toLowerCase()};
  });
  var state = {person: "", account: "", flag: "", sort: "", desc: false, page: 0};
  var $ = function (id) { return document.getElementById(id); };
  var table = $("matrix"), count = $("count");

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function accountFlag(i, flag) { return accounts[i][4].indexOf(flag) >= 0; }
  function visibleAccounts() {
    var wanted = state.account.toLowerCase(), flag = state.flag, result = new Set();
    accounts.forEach(function (a, i) {
      if (wanted && (a[1] + " " + a[0]).toLowerCase().indexOf(wanted) < 0) return;
      if (flag && data.account_flags.indexOf(flag) >= 0 && !accountFlag(i, flag)) return;
      result.add(i);
    });
    return result;
  }
  function matches(p, shown, narrowed) {
    if (state.person && p.text.indexOf(state.person.toLowerCase()) < 0) return false;
    if (state.flag === "employee" && !p.employee) return false;
    var inside = false, flagged = !state.flag || state.flag === "employee" ||
      data.account_flags.indexOf(state.flag) >= 0;
    p.cells.forEach(function (c, i) {
      if (!shown.has(i)) return;
      inside = true;
      if (c[7].indexOf(state.flag) >= 0) flagged = true;
    });
    return (inside || !narrowed) && flagged;
  }
  function key(p) {
    if (state.sort === "person") return p.email.toLowerCase();
    if (state.sort === "name") return p.name.toLowerCase();
    if (state.sort === "employee") return p.employee ? 1 : 0;
    if (state.sort === "flags") return p.flags.size;
    if (state.sort === "cost") return p.cost;
    var c = p.cells.get(Number(state.sort));
    return c ? RANK[c[1]] || 0 : 0;
  }
  function sorted(rows) {
    if (!state.sort) return rows;
    var sign = state.desc ? -1 : 1;
    return rows.map(function (p) { return [key(p), p]; }).sort(function (a, b) {
      if (a[0] < b[0]) return -sign;
      if (a[0] > b[0]) return sign;
      return a[1].index - b[1].index;
    }).map(function (pair) { return pair[1]; });
  }
  function header(label, sortKey, cls, title) {
    var th = el("th", label, cls);
    th.dataset.sort = sortKey;
    th.scope = "col";
    if (title) th.title = title;
    if (state.sort === sortKey) th.setAttribute("aria-sort", state.desc ? "descending" : "ascending");
    return th;
  }
  function cellNode(c, account) {
    var td = el("td", c[1] === "role" ? c[2] : LABEL[c[1]] || c[1], "cell " + c[1]);
    td.appendChild(el("span", c[3] === "none" ? "no seat" : c[3] + " seat", "seat"));
    if (c[5] !== "declared") td.classList.add("undeclared");
    if (c[7].length) td.classList.add("flagged");
    var tip = [account[1] + " (" + account[0] + ")", "access: " + (c[1] === "role" ?
      "role " + c[2] : LABEL[c[1]] || c[1]), "seat: " + c[3], "config: " + c[5]];
    if (c[4]) tip.push("teams: " + c[4]);
    if (c[6] !== null) tip.push("monthly: " + c[6] + " " + data.currency);
    if (c[7].length) tip.push("flags: " + c[7].join(", "));
    td.title = tip.join("\n");
    return td;
  }
  function render() {
    var shown = visibleAccounts();
    var narrowed = shown.size !== accounts.length;
    var rows = sorted(people.filter(function (p) { return matches(p, shown, narrowed); }));
    var pages = Math.max(1, Math.ceil(rows.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    var page = rows.slice(state.page * PAGE, (state.page + 1) * PAGE);
    var used = new Set();
    page.forEach(function (p) { p.cells.forEach(function (c, i) { if (shown.has(i)) used.add(i); }); });
    var columns = Array.from(used).sort(function (a, b) { return a - b; });
    var head = el("tr");
    head.appendChild(header("Person", "person"));
    head.appendChild(header("Employee", "employee"));
    head.appendChild(header("Flags", "flags"));
    if (data.currency) head.appendChild(header("Monthly " + data.currency, "cost"));
    columns.forEach(function (i) {
      var a = accounts[i], single = accountFlag(i, "single-super-admin");
      head.appendChild(header(a[1] || String(a[0]), String(i), "account" + (single ? " single" : ""),
        a[1] + " (" + a[0] + ")" + (single ? ": single Super Admin" : "") +
        (a[2] !== "granted" ? "; partner access " + a[2] : "") +
        (a[3] !== null ? "; " + a[3] + " " + data.currency + "/month" : "")));
    });
    var body = document.createDocumentFragment();
    page.forEach(function (p) {
      var tr = el("tr"), who = el("th", p.email, p.employee ? "employee" : "");
      who.scope = "row";
      if (p.name) who.appendChild(el("span", p.name, "name"));
      tr.appendChild(who);
      tr.appendChild(el("td", p.employee ? "yes" : "no"));
      var flags = el("td", null, "num");
      if (p.flags.size) {
        var badge = el("span", String(p.flags.size), "badge");
        badge.title = Array.from(p.flags).join(", ");
        flags.appendChild(badge);
      }
      tr.appendChild(flags);
      if (data.currency) tr.appendChild(el("td", p.cost.toFixed(2), "num"));
      columns.forEach(function (i) {
        var c = p.cells.get(i);
        tr.appendChild(c ? cellNode(c, accounts[i]) : el("td"));
      });
      body.appendChild(tr);
    });
    table.tHead.replaceChildren(head);
    table.tBodies[0].replaceChildren(body);
    var first = rows.length ? state.page * PAGE + 1 : 0;
    count.textContent = "People " + first + "\u2013" + (state.page * PAGE + page.length) + " of " +
      rows.length.toLocaleString("en") + " (page " + (state.page + 1) + " of " + pages + "); " +
      columns.length + " of " + accounts.length + " accounts on this page";
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
  }
  var timer = 0;
  function later() { clearTimeout(timer); timer = setTimeout(render, 120); }
  $("person-filter").addEventListener("input", function (e) {
    state.person = e.target.value; state.page = 0; later();
  });
  $("account-filter").addEventListener("input", function (e) {
    state.account = e.target.value; state.page = 0; later();
  });
  $("flag-filter").addEventListener("change", function (e) {
    state.flag = e.target.value; state.page = 0; render();
  });
  $("prev").addEventListener("click", function () { state.page -= 1; render(); });
  $("next").addEventListener("click", function () { state.page += 1; render(); });
  table.tHead.addEventListener("click", function (e) {
    var th = e.target.closest("th");
    if (!th) return;
    state.desc = state.sort === th.dataset.sort ? !state.desc : false;
    state.sort = th.dataset.sort;
    render();
  });
  render();
})();
"""


def csp_hash(text: str) -> str:
    """The Content-Security-Policy source that allows exactly this inline text."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


#: Nothing is loaded from anywhere; only this page's own style sheet and script run.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src {csp_hash(STYLE)}; script-src {csp_hash(SCRIPT)};"
    " base-uri 'none'; form-action 'none'"
)
