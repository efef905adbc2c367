// Reverie's studio page: choose what to make, paint a mask, pick a look, follow jobs, compare results.
// It only talks to the HTTP API (/docs); every check that matters is the server's.
"use strict";

const $ = id => document.getElementById(id);
const form = $("dream-form");
const input = $("image-input");
const message = $("message");
const submit = $("submit");
const modelSelect = $("model");
const jobList = $("jobs");
const FORM_KEY = "reverie-form";
const ACTIVE = new Set(["running", "queued"]);
let models = [];
let classes = [];
let chosenFile = null;
let pollTimer = null;
let restoring = false;

function say(text, isError = false) {
  message.textContent = text || "";
  message.classList.toggle("error", isError);
}

/** A refused request: its message, and the form fields it names (the server's 422 details). */
class ApiError extends Error {
  constructor(text, fields = []) { super(text); this.fields = fields; }
}

async function apiError(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return new ApiError(body.detail);
    if (Array.isArray(body.detail)) return new ApiError(body.detail.map(d => d.msg).join("; "), body.detail);
  } catch (_) { /* not JSON */ }
  return new ApiError(`the server answered ${response.status}`);
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) throw await apiError(response);
  return response.status === 204 ? null : response.json();
}

// ---------------------------------------------------------------------------- field errors

/** Form fields the server may name whose input has another id. */
const FIELD_INPUTS = { image: "image-input", video: "image-input", mask: "use-mask", preset: "looks" };

function clearFieldErrors() {
  for (const note of form.querySelectorAll(".field-error")) note.remove();
  for (const field of form.querySelectorAll("[aria-invalid]")) {
    field.removeAttribute("aria-invalid");
    field.removeAttribute("aria-errormessage");
  }
}

/** Each message beside the field it is about, the field marked invalid, the first one focused. */
function showFieldErrors(details) {
  clearFieldErrors();
  let first = null;
  for (const detail of details) {
    const field = $(FIELD_INPUTS[detail.loc.at(-1)] || detail.loc.at(-1));
    if (!field) continue;
    const note = document.createElement("small");
    note.className = "field-error";
    note.id = `${field.id}-error`;
    note.textContent = detail.msg;
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-errormessage", note.id);
    field.insertAdjacentElement("afterend", note);
    first = first || field;
  }
  if (first) first.focus();
}

// ------------------------------------------------------------------------------- kinds and uploads

function kind() { return form.querySelector('input[name="kind"]:checked').value; }

function showKind() {
  const current = kind();
  const video = current === "video";
  input.accept = video ? "video/*" : "image/*";
  input.setAttribute("aria-label", video ? "Video to dream" : "Photo to dream");
  $("drop-hint").firstChild.textContent = chosenFile ? `${chosenFile.name} · ` :
    `Drop a ${video ? "video" : "photo"} here or `;
  $("drop-hint").querySelector("u").textContent = chosenFile ? "choose another" : "choose a file";
  $("drop-types").textContent = video ? "MP4, MOV, WebM or MKV" : "JPEG, PNG, WebP, TIFF, BMP or GIF";
  $("zoom-knobs").hidden = current !== "zoom";
  $("video-knobs").hidden = !video;
  $("guide").closest("label").hidden = video;
  $("mask-tools").hidden = current !== "dream" || !chosenFile || video;
  submit.textContent = { dream: "Dream", zoom: "Dream a zoom", video: "Dream the video" }[current];
  if (chosenFile && (chosenFile.type.startsWith("video/") !== video)) choose(null);
}

function choose(file) {
  chosenFile = file || null;
  say("");
  $("paint-area").hidden = true;
  $("video-preview").hidden = true;
  if (chosenFile) {
    const url = URL.createObjectURL(chosenFile);
    if (kind() === "video") {
      $("video-preview").src = url;
      $("video-preview").hidden = false;
    } else {
      $("upload-preview").src = url;
      $("paint-area").hidden = false;
    }
  } else {
    input.value = "";
  }
  submit.disabled = !chosenFile;
  showKind();
}

input.addEventListener("change", () => choose(input.files[0]));
const dropZone = $("drop-zone");
for (const name of ["dragenter", "dragover"]) {
  dropZone.addEventListener(name, event => { event.preventDefault(); dropZone.classList.add("dragging"); });
}
for (const name of ["dragleave", "drop"]) {
  dropZone.addEventListener(name, event => { event.preventDefault(); dropZone.classList.remove("dragging"); });
}
dropZone.addEventListener("drop", event => choose(event.dataTransfer.files[0]));
for (const radio of form.querySelectorAll('input[name="kind"]')) radio.addEventListener("change", showKind);

// ----------------------------------------------------------------------------------- the mask

const canvas = $("mask-canvas");
const paint = canvas.getContext("2d");
let painting = false;
let painted = false;

$("upload-preview").addEventListener("load", () => {
  const image = $("upload-preview");
  const scale = Math.min(1, 1024 / Math.max(image.naturalWidth, image.naturalHeight));
  canvas.width = Math.max(1, Math.round(image.naturalWidth * scale));
  canvas.height = Math.max(1, Math.round(image.naturalHeight * scale));
  painted = false;
});

function maskOn() { return $("use-mask").checked && kind() === "dream"; }

$("use-mask").addEventListener("change", () => {
  canvas.hidden = !$("use-mask").checked;
  form.querySelector(".mask-controls").hidden = !$("use-mask").checked;
});

function brushAt(event) {
  const box = canvas.getBoundingClientRect();
  const scale = canvas.width / box.width;
  const x = (event.clientX - box.left) * scale;
  const y = (event.clientY - box.top) * scale;
  const erasing = form.querySelector('input[name="brush-mode"]:checked').value === "eraser";
  paint.globalCompositeOperation = erasing ? "destination-out" : "source-over";
  paint.fillStyle = "rgb(140, 70, 255)";
  paint.beginPath();
  paint.arc(x, y, (Number($("brush-size").value) / 2) * scale, 0, 2 * Math.PI);
  paint.fill();
  painted = painted || !erasing;
}

canvas.addEventListener("pointerdown", event => {
  painting = true;
  canvas.setPointerCapture(event.pointerId);
  brushAt(event);
});
canvas.addEventListener("pointermove", event => { if (painting) brushAt(event); });
for (const name of ["pointerup", "pointercancel"]) canvas.addEventListener(name, () => { painting = false; });
$("mask-clear").addEventListener("click", () => { paint.clearRect(0, 0, canvas.width, canvas.height); painted = false; });
$("mask-fill").addEventListener("click", () => {
  paint.globalCompositeOperation = "source-over";
  paint.fillStyle = "rgb(140, 70, 255)";
  paint.fillRect(0, 0, canvas.width, canvas.height);
  painted = true;
});

/** The painted area as a PNG: white where painted, black elsewhere, its edge feathered. */
function maskBlob() {
  const white = document.createElement("canvas");
  white.width = canvas.width; white.height = canvas.height;
  const whiteContext = white.getContext("2d");
  whiteContext.drawImage(canvas, 0, 0);
  whiteContext.globalCompositeOperation = "source-in";
  whiteContext.fillStyle = "white";
  whiteContext.fillRect(0, 0, white.width, white.height);
  const mask = document.createElement("canvas");
  mask.width = canvas.width; mask.height = canvas.height;
  const context = mask.getContext("2d");
  context.fillStyle = "black";
  context.fillRect(0, 0, mask.width, mask.height);
  const feather = Number($("feather").value) * canvas.width / canvas.getBoundingClientRect().width;
  if (feather > 0) context.filter = `blur(${feather / 2}px)`;
  context.drawImage(white, 0, 0);
  return new Promise(resolve => mask.toBlob(resolve, "image/png"));
}

// ---------------------------------------------------------------------- models, looks, classes

function currentModel() { return models.find(m => m.name === modelSelect.value); }

function chosenPreset() {
  const checked = form.querySelector('input[name="preset"]:checked');
  return checked ? checked.value : "";
}

function fillLooks(preferred) {
  const model = currentModel();
  const looks = $("looks");
  looks.replaceChildren();
  $("layer-names").replaceChildren();
  if (!model) return;
  const wanted = preferred && model.presets[preferred] ? preferred : model.default_preset;
  for (const look of model.looks) {
    const label = document.createElement("label");
    label.className = "look";
    const radio = document.createElement("input");
    radio.type = "radio"; radio.name = "preset"; radio.value = look.name; radio.checked = look.name === wanted;
    radio.addEventListener("change", saveForm);
    const picture = document.createElement("img");
    picture.src = look.thumbnail_url; picture.alt = ""; picture.loading = "lazy";
    picture.width = 192; picture.height = 128;
    const name = document.createElement("strong");
    name.textContent = look.name;
    const words = document.createElement("small");
    words.textContent = look.description;
    label.title = `layers ${look.layers}`;
    label.append(radio, picture, name, words);
    looks.append(label);
  }
  for (const layer of model.catalogue) {
    $("layer-names").append(new Option(`${layer.name}: ${layer.hint}`, layer.name));
  }
}

function classLabel(entry) {
  return classes.filter(c => c.name === entry.name).length > 1 ? `${entry.name} (${entry.index})` : entry.name;
}

function fillClasses() {
  const list = $("class-names");
  list.replaceChildren(...classes.map(entry => new Option(`class ${entry.index}`, classLabel(entry))));
}

$("class-name").addEventListener("change", () => {
  const typed = $("class-name").value.trim();
  if (!typed) return;
  const entry = classes.find(c => classLabel(c) === typed) || classes.find(c => c.name === typed);
  if (!entry) { say(`no ImageNet class is called "${typed}"; pick one from the list`, true); return; }
  $("layers").value = `class:${entry.index}`;  // an index is never ambiguous ("crane" is two classes)
  say(`The dream will bring out ${entry.name} (class ${entry.index}).`);
  saveForm();
});

modelSelect.addEventListener("change", () => { fillLooks(); saveForm(); });

// -------------------------------------------------------------------------- form kept across reloads

const KEPT = ["model", "step_size", "steps", "octaves", "max_side", "seed", "layers", "keep_colors", "frames",
  "zoom", "rotate", "fps", "format", "stabilise", "blend", "flow"];

function formValues() {
  const values = { kind: kind(), preset: chosenPreset() };
  for (const id of KEPT) values[id] = $(id).type === "checkbox" ? $(id).checked : $(id).value;
  return values;
}

function applyValues(values) {
  restoring = true;
  if (values.kind) {
    const radio = form.querySelector(`input[name="kind"][value="${values.kind}"]`);
    if (radio && !radio.closest("label").hidden) radio.checked = true;
  }
  if (values.model && models.some(m => m.name === values.model)) modelSelect.value = values.model;
  fillLooks(values.preset);
  for (const id of KEPT) {
    if (id === "model" || values[id] === undefined) continue;
    if ($(id).type === "checkbox") $(id).checked = Boolean(values[id]); else $(id).value = values[id];
  }
  restoring = false;
  showKind();
}

function saveForm() {
  if (restoring) return;
  try { localStorage.setItem(FORM_KEY, JSON.stringify(formValues())); } catch (_) { /* private mode */ }
}

form.addEventListener("change", saveForm);
form.addEventListener("input", saveForm);

function restoreForm() {
  try { applyValues(JSON.parse(localStorage.getItem(FORM_KEY) || "{}")); } catch (_) { applyValues({}); }
}

// --------------------------------------------------------------------------------------- submit

form.addEventListener("submit", async event => {
  event.preventDefault();
  if (!chosenFile) { say(`choose a ${kind() === "video" ? "video" : "photo"} first`, true); return; }
  const values = formValues();
  const data = new FormData();
  for (const [key, value] of Object.entries(values)) {
    if (typeof value === "boolean") data.set(key, value ? "true" : "false"); else data.set(key, value);
  }
  data.set(kind() === "video" ? "video" : "image", chosenFile, chosenFile.name);
  if ($("guide").files[0] && kind() !== "video") data.set("guide", $("guide").files[0]);
  if (maskOn()) {
    if (!painted) { say("paint where the photo may dream, or untick the mask", true); return; }
    data.set("mask", await maskBlob(), "mask.png");
  }
  submit.disabled = true;
  clearFieldErrors();
  say("Sending…");
  try {
    const job = await api("/api/jobs", { method: "POST", body: data });
    say(`${job.name} is queued.`);
    await refresh();
  } catch (error) {
    say(error.message.startsWith("Failed to fetch") ? "could not reach the server" : error.message, true);
    if (error.fields && error.fields.length) showFieldErrors(error.fields);
  } finally {
    submit.disabled = !chosenFile;
  }
});

// ----------------------------------------------------------------------------------- job cards

const SETTING_NAMES = { model: "model", preset: "look", layers: "layers", steps: "steps", octaves: "octaves",
  step_size: "strength", seed: "seed", max_side: "size", keep_colors: "keep colours" };

function settingsList(job) {
  const list = document.createElement("dl");
  const rows = Object.entries(SETTING_NAMES).map(([key, label]) => [label, job.settings[key]]);
  if (job.options.motion) {
    const m = job.options.motion;
    rows.push(["frames", m.frames], ["zoom", `${m.zoom}%`], ["turn", `${m.rotate}°`], ["fps", m.fps]);
  }
  if (job.options.coherence) rows.push(["blend", job.options.coherence.blend], ["follow motion", job.options.coherence.flow]);
  if (job.has_guide) rows.push(["guide", "yes"]);
  if (job.has_mask) rows.push(["mask", "painted"]);
  for (const [label, value] of rows) {
    if (value === "" || value === undefined) continue;
    const term = document.createElement("dt"); term.textContent = label;
    const detail = document.createElement("dd"); detail.textContent = String(value);
    list.append(term, detail);
  }
  return list;
}

function button(text, className, action) {
  const element = document.createElement("button");
  element.type = "button"; element.className = `secondary ${className}`; element.textContent = text;
  element.addEventListener("click", action);
  return element;
}

async function act(path, method = "POST", words = "") {
  try {
    await api(path, { method });
    if (words) say(words);
  } catch (error) { say(error.message, true); }
  await refresh();
}

function useSettings(job) {
  const s = job.settings;
  const values = { kind: job.kind, model: s.model, preset: s.preset, steps: s.steps, octaves: s.octaves,
    step_size: s.step_size, seed: s.seed, max_side: s.max_side, keep_colors: s.keep_colors,
    layers: s.preset && currentPresetLayers(s.model, s.preset) === s.layers ? "" : s.layers };
  if (job.options.motion) Object.assign(values, job.options.motion);
  if (job.options.coherence) Object.assign(values, job.options.coherence);
  for (const radio of form.querySelectorAll('input[name="kind"]')) radio.checked = radio.value === job.kind;
  applyValues(values);
  saveForm();
  say(`Settings of ${job.name} are in the form; choose a ${job.kind === "video" ? "video" : "photo"} and dream.`);
  form.scrollIntoView({ behavior: "smooth" });
}

function currentPresetLayers(model, preset) {
  const found = models.find(m => m.name === model);
  return found ? found.presets[preset] : undefined;
}

function jobCard(job) {
  const card = document.createElement("li");
  card.className = "job";
  card.dataset.id = job.id;
  card.dataset.status = job.status;
  card.dataset.kind = job.kind;
  const picture = document.createElement("img");
  picture.alt = `${job.name}, ${job.status}`;
  const still = job.kind === "dream" ? job.result_url : null;
  picture.src = still || job.preview_url || job.source_url;
  picture.className = "thumb";
  if (job.result_url) {
    picture.tabIndex = 0;
    picture.addEventListener("click", () => openViewer(job));
    picture.addEventListener("keydown", event => { if (event.key === "Enter") openViewer(job); });
  }
  const body = document.createElement("div");
  const title = document.createElement("h3");
  title.textContent = job.name;
  const status = document.createElement("div");
  status.className = "status";
  const percent = Math.round(job.progress * 100);
  const what = { dream: "photo", zoom: "zoom", video: "video" }[job.kind];
  status.textContent = `${job.status}${job.status === "running" ? ` ${percent}% (${job.stage})` : ""}`
    + ` · ${what} · ${job.width}×${job.height}`;
  body.append(title, status);
  if (ACTIVE.has(job.status)) {
    const bar = document.createElement("progress");
    bar.max = 1; bar.value = job.progress;
    bar.setAttribute("aria-label", `progress of ${job.name}`);
    body.append(bar);
  }
  if (job.error && job.status !== "cancelled") {
    const error = document.createElement("div");
    error.className = "error";
    error.textContent = job.error;
    body.append(error);
  }
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = "Settings";
  details.append(summary, settingsList(job));
  body.append(details);
  const actions = document.createElement("div");
  actions.className = "actions";
  if (job.result_url) {
    actions.append(button("View", "view", () => openViewer(job)));
    const link = document.createElement("a");
    link.className = "download";
    link.href = job.result_url;
    link.textContent = "Download";
    link.setAttribute("download", "");
    link.setAttribute("aria-label", `Download the dream of ${job.name}`);
    actions.append(link);
  }
  actions.append(button("Use these settings", "reuse", () => useSettings(job)));
  if (!ACTIVE.has(job.status)) {
    actions.append(button("Dream again", "again", () => act(`/api/jobs/${job.id}/again`, "POST",
      `${job.name} is queued again with a new seed.`)));
  }
  const action = { running: "cancel", queued: "cancel", failed: "retry", cancelled: "retry", interrupted: "retry" }[job.status];
  if (action) {
    actions.append(button(action === "cancel" ? "Cancel" : "Retry", action, () => act(`/api/jobs/${job.id}/${action}`)));
  }
  if (job.status !== "running") {
    actions.append(button("Delete", "delete", () => {
      if (confirm(`Delete ${job.name} and its dream?`)) act(`/api/jobs/${job.id}`, "DELETE", `${job.name} deleted.`);
    }));
  }
  body.append(actions);
  card.append(picture, body);
  return card;
}

async function refresh() {
  clearTimeout(pollTimer);
  try {
    const jobs = await api("/api/jobs?limit=30");
    const open = new Set([...jobList.querySelectorAll("details[open]")].map(d => d.closest("li").dataset.id));
    const before = new Map([...jobList.children].map(card => [card.dataset.id, card]));
    const cards = jobs.map(job => {
      const signature = JSON.stringify(job);
      const old = before.get(job.id);
      if (old && old.dataset.signature === signature) return old;
      const card = jobCard(job);
      card.dataset.signature = signature;
      if (open.has(job.id)) card.querySelector("details").open = true;
      return card;
    });
    const focused = document.activeElement;
    jobList.replaceChildren(...cards);
    if (focused && !document.contains(focused)) submit.focus({ preventScroll: true });
    $("no-jobs").hidden = jobs.length > 0;
    pollTimer = setTimeout(refresh, jobs.some(job => ACTIVE.has(job.status)) ? 700 : 5000);
  } catch (_) {
    pollTimer = setTimeout(refresh, 5000);
  }
}

// --------------------------------------------------------------------------------------- viewer

const viewer = $("viewer");

function openViewer(job) {
  $("viewer-title").textContent = job.name;
  const still = job.kind === "dream";
  $("compare").hidden = !still;
  $("compare-label").hidden = !still;
  $("viewer-video").hidden = true;
  $("viewer-animation").hidden = true;
  if (still) {
    $("compare-before").src = job.source_url;
    $("compare-after").src = job.result_url;
    $("compare-slider").value = 50;
    showSplit();
  } else if (job.result_type === "video/mp4") {
    $("viewer-video").src = job.result_url;
    $("viewer-video").hidden = false;
  } else {
    $("viewer-animation").src = job.result_url;
    $("viewer-animation").hidden = false;
  }
  viewer.showModal();
}

function showSplit() {
  $("compare-after-box").style.clipPath = `inset(0 0 0 ${$("compare-slider").value}%)`;
}

$("compare-slider").addEventListener("input", showSplit);
$("viewer-close").addEventListener("click", () => viewer.close());
viewer.addEventListener("close", () => $("viewer-video").pause());

// ------------------------------------------------------------------------------------------ start

async function start() {
  try {
    // The page offers only the kinds of job this server makes (the server writes them in).
    const [found, names] = await Promise.all([api("/api/models"), api("/api/classes")]);
    models = found;
    classes = names;
    for (const model of models) modelSelect.add(new Option(model.name, model.name));
    fillClasses();
    restoreForm();
    if (!models.length) say("this server has no model weights installed", true);
  } catch (error) {
    say(`could not load the page's settings: ${error.message}`, true);
  }
  await refresh();
}

start();
