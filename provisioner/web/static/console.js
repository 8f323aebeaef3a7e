// The console's only script: confirmations and a run's live progress (server-sent events).
// Text from the server is always set with textContent; the one HTML fragment inserted comes
// from the console itself (the result block, rendered and escaped server-side).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  const job = document.getElementById("job");
  if (job && job.dataset.done !== "true") follow(job);
});

function follow(job) {
  const state = document.getElementById("job-state");
  const current = document.getElementById("job-task");
  const log = document.getElementById("events");
  const rows = document.querySelector("#progress-hosts tbody");
  const hosts = new Map();
  const counters = ["ok", "changed", "failed", "unreachable"];

  function line(kind, text) {
    const item = document.createElement("li");
    item.className = kind;
    item.textContent = `${kind} ${text}`;
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function host(name) {
    if (!hosts.has(name)) {
      const row = document.createElement("tr");
      row.dataset.host = name;
      const cells = [name, 0, 0, 0, 0, ""].map((value) => {
        const cell = document.createElement("td");
        cell.textContent = String(value);
        row.appendChild(cell);
        return cell;
      });
      rows.appendChild(row);
      hosts.set(name, { row, cells, counts: { ok: 0, changed: 0, failed: 0, unreachable: 0 } });
    }
    return hosts.get(name);
  }

  const source = new EventSource(job.dataset.events);
  source.addEventListener("state", (e) => { state.textContent = JSON.parse(e.data).state; });
  source.addEventListener("play", (e) => line("play", JSON.parse(e.data).play));
  source.addEventListener("task", (e) => {
    const data = JSON.parse(e.data);
    const name = data.role ? `${data.role} : ${data.task}` : data.task;
    current.textContent = `· ${name}`;
    line("task", name);
  });
  for (const kind of [...counters, "skipped"]) {
    source.addEventListener(kind, (e) => {
      const data = JSON.parse(e.data);
      if (!data.host) return;
      const entry = host(data.host);
      if (kind !== "skipped") {
        entry.counts[kind] += 1;
        entry.cells[counters.indexOf(kind) + 1].textContent = String(entry.counts[kind]);
      }
      entry.cells[5].textContent = data.task;
      if (kind === "failed" || kind === "unreachable" || kind === "changed") {
        line(kind, `${data.host}: ${data.task}`);
      }
      if (kind === "failed" || kind === "unreachable") entry.row.className = "failed";
    });
  }
  source.addEventListener("done", (e) => {
    source.close();
    state.textContent = JSON.parse(e.data).state;
    current.textContent = "";
    const cancel = document.getElementById("cancel-form");
    if (cancel) cancel.remove();
    fetch(job.dataset.result, { credentials: "same-origin" })
      .then((response) => response.text())
      .then((html) => { document.getElementById("result").innerHTML = html; });
  });
}
