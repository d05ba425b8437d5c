// The dashboard's own script: progressive enhancement only; every page works without it.
// Loaded from /assets under a Content-Security-Policy that allows no inline script.
"use strict";

// Copy buttons: <button data-copy="element-id"> copies that element's text.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  } catch {
    // Clipboard refused (an insecure origin): select the text so the user can copy it.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
});

// Forms that destroy something ask first: <form data-confirm="Delete this note?">.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

// A choice that decides which fields apply: <select data-shows-fields> hides the elements of
// its form whose data-for names other choices (space-separated); without the script all show.
for (const select of document.querySelectorAll("select[data-shows-fields]")) {
  const show = () => {
    for (const field of select.form.querySelectorAll("[data-for]")) {
      field.hidden = !field.dataset.for.split(" ").includes(select.value);
    }
  };
  select.addEventListener("change", show);
  show();
}

// Tabs of the MCP set-up snippets: <button role="tab" aria-controls="panel-id">.
document.addEventListener("click", (event) => {
  const tab = event.target.closest("[role=tab]");
  if (!tab) return;
  const list = tab.closest("[role=tablist]");
  for (const other of list.querySelectorAll("[role=tab]")) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
  }
});
document.addEventListener("keydown", (event) => {
  const tab = event.target.closest("[role=tab]");
  if (!tab || (event.key !== "ArrowRight" && event.key !== "ArrowLeft")) return;
  const tabs = [...tab.closest("[role=tablist]").querySelectorAll("[role=tab]")];
  const step = event.key === "ArrowRight" ? 1 : tabs.length - 1;
  const next = tabs[(tabs.indexOf(tab) + step) % tabs.length];
  next.focus();
  next.click();
});

// A chat turn streaming into the page: <div data-stream="…/events"> receives the run's
// Server-Sent Events: the sources first, then the answer as it is written. When the turn is
// done, the page reloads to show the stored answer, rendered.
for (const live of document.querySelectorAll("[data-stream]")) {
  const status = live.querySelector("#live-status");
  const answer = live.querySelector("#live-answer");
  const sources = live.querySelector("#live-sources");
  const events = new EventSource(live.dataset.stream);
  const data = (event) => { try { return JSON.parse(event.data); } catch { return null; } };
  events.addEventListener("sources", (event) => {
    for (const source of data(event) || []) {
      const item = document.createElement("li");
      item.value = source.n;
      const link = document.createElement("a");
      link.href = "/contexts/" + source.context_id;
      link.textContent = source.title.replace(/^#+\s*/, "");
      item.append(link, " · " + source.source);
      sources.append(item);
    }
  });
  events.addEventListener("delta", (event) => {
    status.textContent = "Writing…";
    answer.textContent += (data(event) || {}).text || "";
  });
  events.addEventListener("tool_call", (event) => {
    status.textContent = "Using " + ((data(event) || {}).name || "a tool") + "…";
  });
  events.addEventListener("error", (event) => {
    const failure = event.data && data(event);
    if (failure) status.textContent = failure.message || "The answer failed.";
  });
  events.addEventListener("done", () => {
    events.close();
    live.setAttribute("aria-busy", "false");
    const url = new URL(location.href);
    url.searchParams.delete("run");
    url.hash = "";
    location.replace(url);
  });
  // The run is over and nothing was left to send (204): show the stored answer.
  events.onerror = () => {
    if (events.readyState === EventSource.CLOSED) {
      const url = new URL(location.href);
      url.searchParams.delete("run");
      location.replace(url);
    }
  };
}
