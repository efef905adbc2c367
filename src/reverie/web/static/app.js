// Reverie's page: upload with preview, model/preset choice, job list with live progress.
"use strict";

const form = document.getElementById("dream-form");
const input = document.getElementById("image-input");
const dropZone = document.getElementById("drop-zone");
const uploadPreview = document.getElementById("upload-preview");
const message = document.getElementById("message");
const submit = document.getElementById("submit");
const modelSelect = document.getElementById("model");
const presetSelect = document.getElementById("preset");
const jobList = document.getElementById("jobs");
let models = [];
let chosenFile = null;
let pollTimer = null;

function showMessage(text) { message.textContent = text || ""; }

async function apiError(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map(d => `${d.loc.at(-1)}: ${d.msg}`).join("; ");
  } catch (_) { /* not JSON */ }
  return `the server answered ${response.status}`;
}

function choose(file) {
  chosenFile = file || null;
  showMessage("");
  if (!chosenFile) { submit.disabled = true; return; }
  if (!chosenFile.type.startsWith("image/") && chosenFile.type !== "") {
    showMessage(`${chosenFile.name} is not an image`);
  }
  uploadPreview.src = URL.createObjectURL(chosenFile);
  uploadPreview.hidden = false;
  document.getElementById("drop-hint").firstChild.textContent = chosenFile.name + " ";
  submit.disabled = false;
}

input.addEventListener("change", () => choose(input.files[0]));
for (const name of ["dragenter", "dragover"]) {
  dropZone.addEventListener(name, event => { event.preventDefault(); dropZone.classList.add("dragging"); });
}
for (const name of ["dragleave", "drop"]) {
  dropZone.addEventListener(name, event => { event.preventDefault(); dropZone.classList.remove("dragging"); });
}
dropZone.addEventListener("drop", event => choose(event.dataTransfer.files[0]));

function fillPresets() {
  const model = models.find(m => m.name === modelSelect.value);
  presetSelect.replaceChildren();
  document.getElementById("layer-names").replaceChildren();
  if (!model) return;
  for (const [name, layers] of Object.entries(model.presets)) {
    presetSelect.add(new Option(`${name} (${layers})`, name, false, name === model.default_preset));
  }
  for (const layer of model.layers) document.getElementById("layer-names").append(new Option(layer));
}

async function loadModels() {
  const response = await fetch("/api/models");
  models = await response.json();
  for (const model of models) modelSelect.add(new Option(model.name, model.name));
  fillPresets();
}
modelSelect.addEventListener("change", fillPresets);

form.addEventListener("submit", async event => {
  event.preventDefault();
  if (!chosenFile) { showMessage("choose a photo first"); return; }
  const data = new FormData(form);
  data.set("image", chosenFile, chosenFile.name);
  submit.disabled = true;
  showMessage("");
  try {
    const response = await fetch("/api/jobs", { method: "POST", body: data });
    if (!response.ok) { showMessage(await apiError(response)); return; }
    await refresh();
  } catch (error) {
    showMessage(`could not reach the server: ${error}`);
  } finally {
    submit.disabled = !chosenFile;
  }
});

function jobCard(job) {
  const card = document.createElement("li");
  card.className = "job";
  card.dataset.id = job.id;
  card.dataset.status = job.status;
  const picture = document.createElement("img");
  picture.alt = job.name;
  picture.src = job.result_url || job.preview_url || job.source_url;
  const body = document.createElement("div");
  const title = document.createElement("h3");
  title.textContent = job.name;
  const status = document.createElement("div");
  status.className = "status";
  const percent = Math.round(job.progress * 100);
  status.textContent = `${job.status}${job.status === "running" ? ` ${percent}% (${job.stage})` : ""}`
    + ` · ${job.settings.model} · ${job.width}x${job.height}`;
  body.append(title, status);
  if (job.status === "running" || job.status === "queued") {
    const bar = document.createElement("progress");
    bar.max = 1; bar.value = job.progress;
    body.append(bar);
  }
  if (job.error) {
    const error = document.createElement("div");
    error.className = "error";
    error.textContent = job.error;
    body.append(error);
  }
  const actions = document.createElement("div");
  actions.className = "actions";
  if (job.result_url) {
    const link = document.createElement("a");
    link.className = "download";
    link.href = job.result_url;
    link.textContent = "Download";
    link.setAttribute("download", "");
    actions.append(link);
  }
  const action = { running: "cancel", queued: "cancel", failed: "retry", cancelled: "retry", interrupted: "retry" }[job.status];
  if (action) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = action === "cancel" ? "Cancel" : "Retry";
    button.addEventListener("click", async () => {
      const response = await fetch(`/api/jobs/${job.id}/${action}`, { method: "POST" });
      if (!response.ok) showMessage(await apiError(response));
      await refresh();
    });
    actions.append(button);
  }
  body.append(actions);
  card.append(picture, body);
  return card;
}

async function refresh() {
  clearTimeout(pollTimer);
  try {
    const response = await fetch("/api/jobs?limit=30");
    const jobs = await response.json();
    jobList.replaceChildren(...jobs.map(jobCard));
    document.getElementById("no-jobs").hidden = jobs.length > 0;
    const active = jobs.some(job => job.status === "running" || job.status === "queued");
    pollTimer = setTimeout(refresh, active ? 700 : 5000);
  } catch (_) {
    pollTimer = setTimeout(refresh, 5000);
  }
}

loadModels().then(refresh);
