// The review desk's page script: keyboard queue, evidence marking, in-place edits, decisions.
// Every change is a JSON POST carrying the token in a header; nothing is sent anywhere else.
"use strict";

const token = document.querySelector('meta[name="desk-token"]').content;

function typing(event) {
  const t = event.target;
  return t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName);
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-Desk-Token": token},
    body: JSON.stringify(body),
  });
  let data = {};
  try { data = await response.json(); } catch (e) { data = {error: `the desk answered ${response.status}`}; }
  return {status: response.status, data};
}

// ------------------------------------------------------------------------------------------- the queue

function setUpQueue() {
  const rows = Array.from(document.querySelectorAll("#queue tr.row"));
  if (!rows.length) return;
  let current = 0;
  const select = (i) => {
    rows[current].classList.remove("selected");
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows[current].classList.add("selected");
    rows[current].scrollIntoView({block: "nearest"});
  };
  select(0);
  rows.forEach((row, i) => row.addEventListener("click", (e) => {
    if (e.target.tagName !== "A") { select(i); window.location.href = row.dataset.href; }
  }));
  document.addEventListener("keydown", (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "j") select(current + 1);
    else if (e.key === "k") select(current - 1);
    else if (e.key === "Enter") window.location.href = rows[current].dataset.href;
    else return;
    e.preventDefault();
  });
  document.querySelectorAll(".filters select").forEach((s) => s.addEventListener("change", () => s.form.submit()));
}

// ------------------------------------------------------------------------------------------- a paper

function setUpPaper() {
  const top = document.getElementById("top");
  if (!top) return;
  let loaded = top.dataset.loaded;
  let busy = false;

  const showChanged = (message) => {
    document.getElementById("changed-text").textContent = message;
    document.getElementById("changed").hidden = false;
  };
  document.getElementById("reload").addEventListener("click", () => window.location.reload());

  // Clicking a bullet marks the sentences it cites and scrolls the first one into view.
  const mark = (pair) => {
    document.querySelectorAll(".s.mark").forEach((s) => s.classList.remove("mark"));
    document.querySelectorAll(".pair.active").forEach((p) => p.classList.remove("active"));
    pair.classList.add("active");
    const ids = pair.dataset.cites.split(" ").filter(Boolean);
    ids.forEach((id) => document.getElementById(`s${id}`).classList.add("mark"));
    if (ids.length) document.getElementById(`s${ids[0]}`).scrollIntoView({block: "center"});
  };
  document.querySelectorAll(".pair").forEach((pair) => pair.addEventListener("click", () => mark(pair)));

  // Hovering a cited sentence lights up the bullets citing it (its title names them too).
  document.querySelectorAll(".s.cited").forEach((s) => {
    const bullets = s.dataset.citedBy.split(" ").map((b) => document.querySelector(`.pair[data-bullet="${b}"]`));
    s.addEventListener("mouseenter", () => bullets.forEach((b) => b && b.classList.add("hint")));
    s.addEventListener("mouseleave", () => bullets.forEach((b) => b && b.classList.remove("hint")));
  });

  // In-place edits: a changed bullet shows Save; the server validates and writes, or says why not.
  document.querySelectorAll(".bullet[data-lang]").forEach((bullet) => {
    const text = bullet.querySelector(".text");
    const error = bullet.querySelector(".error");
    const bar = bullet.querySelector(".actions");
    let saved = text.textContent;
    const dirty = () => { bar.hidden = text.textContent === saved; };
    text.addEventListener("input", dirty);
    const save = async () => {
      const {status, data} = await post(top.dataset.save, {
        lang: bullet.dataset.lang, group: bullet.dataset.group, index: Number(bullet.dataset.index),
        text: text.textContent, loaded});
      error.textContent = "";
      bullet.classList.remove("invalid", "saved");
      if (status === 200) {
        loaded = data.loaded;
        saved = text.textContent.split(/\s+/).filter(Boolean).join(" ");
        text.textContent = saved;
        document.getElementById("preview").innerHTML = data.preview;  // markdown-it output, raw HTML off
        const problems = document.getElementById("problems");
        problems.replaceChildren(...(data.problems || []).map((p) => {
          const line = document.createElement("p");
          line.className = "problem";
          line.textContent = p;
          return line;
        }));
        bullet.classList.add("saved");
        dirty();
      } else if (status === 409) {
        showChanged(data.changed);
      } else {
        bullet.classList.add("invalid");
        error.textContent = (data.errors || [data.error]).join("\n");
      }
    };
    bar.querySelector(".save").addEventListener("click", (e) => { e.stopPropagation(); save(); });
    bar.querySelector(".undo").addEventListener("click", (e) => {
      e.stopPropagation(); text.textContent = saved; error.textContent = ""; bullet.classList.remove("invalid"); dirty();
    });
    text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); save(); }
      else if (e.key === "Enter") e.preventDefault();  // a bullet is one line
      else if (e.key === "Escape") text.blur();
    });
  });

  // Decisions: a approves at once; r and n ask for the reason or the note first.
  const form = document.getElementById("decision");
  const note = document.getElementById("decision-note");
  const failure = document.getElementById("decision-error");
  let pending = null;
  const decide = async (action, text) => {
    if (busy) return;
    busy = true;
    failure.hidden = true;
    const {status, data} = await post(top.dataset.decide, {action, note: text, loaded});
    busy = false;
    if (status === 200) { document.getElementById("status").textContent = data.status; window.location.href = data.next; }
    else if (status === 409) showChanged(data.changed);
    else { failure.textContent = data.error; failure.hidden = false; }
  };
  const ask = (action, label) => {
    pending = action;
    document.getElementById("decision-label").textContent = label;
    document.getElementById("decision-submit").textContent = action === "reject" ? "Reject" : "Send back";
    form.hidden = false;
    note.value = "";
    note.focus();
  };
  const cancel = () => { form.hidden = true; pending = null; };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!note.value.trim()) { note.focus(); return; }
    decide(pending, note.value.trim());
  });
  document.getElementById("decision-cancel").addEventListener("click", cancel);
  note.addEventListener("keydown", (e) => { if (e.key === "Escape") cancel(); });
  document.getElementById("approve").addEventListener("click", () => decide("approve", null));
  document.getElementById("reject").addEventListener("click", () => ask("reject", "Why reject it?"));
  document.getElementById("needs-changes").addEventListener("click", () => ask("needs-changes", "What should change?"));
  document.addEventListener("keydown", (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "a") decide("approve", null);
    else if (e.key === "r") ask("reject", "Why reject it?");
    else if (e.key === "n") ask("needs-changes", "What should change?");
    else return;
    e.preventDefault();
  });
}

setUpQueue();
setUpPaper();
