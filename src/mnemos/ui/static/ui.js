// mnemos web UI: confirmations and live updates. No framework, nothing fetched from elsewhere.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// A page with #live[data-events] listens to the thread's server-sent events and,
// when the thread moves, reloads its body from data-body.
function followLive() {
  const live = document.getElementById("live");
  if (!live || !live.dataset.events || !window.EventSource) return;
  const source = new EventSource(live.dataset.events);
  let loading = false;
  let again = false;
  async function reload() {
    if (loading) { again = true; return; }
    loading = true;
    try {
      const response = await fetch(live.dataset.body, { headers: { "Accept": "text/html" } });
      if (response.ok) {
        const html = await response.text();
        const focused = document.activeElement && live.contains(document.activeElement) && document.activeElement.tagName === "INPUT";
        if (!focused) live.innerHTML = html;
        live.dataset.updated = String(Date.now());
      }
    } finally {
      loading = false;
      if (again) { again = false; reload(); }
    }
  }
  source.addEventListener("change", reload);
  // On (re)connecting, reload once: the thread may have moved between the page's rendering and now.
  source.addEventListener("hello", () => { reload().then(() => { live.dataset.connected = "1"; }); });
}

// The namespace tree takes a while to count on a large store: the page comes first, the tree after.
async function loadTree() {
  const tree = document.getElementById("tree");
  if (!tree || !tree.dataset.src || tree.querySelector("ul")) return;
  const response = await fetch(tree.dataset.src, { headers: { "Accept": "text/html" } });
  if (response.ok) tree.innerHTML = await response.text();
}

document.addEventListener("DOMContentLoaded", followLive);
document.addEventListener("DOMContentLoaded", loadTree);
