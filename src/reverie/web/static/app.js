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
/** Jobs in the gallery's order (groups' cells in place), for the viewer's previous and next. */
let shown = [];
/** Each card of the gallery, by job id or "group:ID": patched in place, never rebuilt. */
const cards = new Map();
/** What was last announced of each job, so the live region speaks only of changes. */
const heard = new Map();
const PAGE = 24;
let limit = PAGE;
let looked = false;  // whether the gallery was read once (what was there before is not announced)

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
  $("drop-hint").textContent = chosenFile ? `${chosenFile.name}: drop or choose another to replace it` :
    `Drop a ${video ? "video" : "photo"} here, or choose one:`;
  $("drop-types").textContent = video ? "MP4, MOV, WebM or MKV" : "JPEG, PNG, WebP, TIFF, BMP or GIF";
  $("zoom-knobs").hidden = current !== "zoom";
  $("video-knobs").hidden = !video;
  $("guide").closest("label").hidden = video;
  $("mask-tools").hidden = current !== "dream" || !chosenFile || video;
  $("variations-box").hidden = current !== "dream";
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
    radio.addEventListener("change", () => { dropClass(); saveForm(); });
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

function fillLookFilter() {
  const names = [...new Set(models.flatMap(model => Object.keys(model.presets)))];
  $("filter-look").append(...names.map(name => new Option(name, name)));
}

function classLabel(entry) {
  return classes.filter(c => c.name === entry.name).length > 1 ? `${entry.name} (${entry.index})` : entry.name;
}

function fillClasses() {
  const list = $("class-names");
  list.replaceChildren(...classes.map(entry => new Option(`class ${entry.index}`, classLabel(entry))));
}

// "Dream of a thing" writes one class term into Layers; the chip shows it while it is there, and
// removing it (the chip's button, an emptied box, another look) takes the term out again.
const CLASS_TERM = /^class:(\d+)$/;

/** Layers changed (typed, chosen, restored): the class chip and the picker's chosen tiles follow. */
function showClassChip() {
  const found = CLASS_TERM.exec($("layers").value.trim());
  const entry = found ? classes[Number(found[1])] : null;
  $("class-chip").hidden = !entry;
  if (entry) {
    $("class-chip-text").textContent = `Dreaming of ${entry.name} (class ${entry.index}), instead of the look.`;
    if (!$("class-name").value) $("class-name").value = classLabel(entry);
  }
  showClassTile(entry);
  markChosenTiles();
}

/** The model's dream of the chosen class (a picker tile), beside the chip once the server has made it. */
let classTileFor = "";

async function showClassTile(entry) {
  const key = entry ? `${modelSelect.value}/${entry.index}` : "";
  if (key === classTileFor) return;
  classTileFor = key;
  const picture = $("class-tile");
  picture.hidden = true;
  picture.removeAttribute("src");
  if (!entry) return;
  picture.alt = `What ${modelSelect.value} dreams for ${entry.name}`;
  const url = `/api/tiles/${encodeURIComponent(modelSelect.value)}/classes/${entry.index}`;
  try {
    let tile = await api(url, { method: "POST" });
    for (let tries = 0; ["waiting", "not asked"].includes(tile.state) && tries < TILE_TRIES; tries += 1) {
      await new Promise(resolve => setTimeout(resolve, TILE_POLL_MS));
      if (classTileFor !== key) return;
      tile = await api(url, tile.state === "not asked" ? { method: "POST" } : {});  // asked again
    }
    if (classTileFor === key && tile.state === "ready") { picture.src = tile.url; picture.hidden = false; }
  } catch (_) { /* the chip works without its picture */ }
}

function dropClass() {
  if (CLASS_TERM.test($("layers").value.trim())) $("layers").value = "";
  $("class-name").value = "";
  showClassChip();
}

$("class-name").addEventListener("change", () => {
  const typed = $("class-name").value.trim();
  if (!typed) { dropClass(); saveForm(); return; }
  const entry = classes.find(c => classLabel(c) === typed) || classes.find(c => c.name === typed);
  if (!entry) { say(`no ImageNet class is called "${typed}"; pick one from the list`, true); return; }
  $("layers").value = `class:${entry.index}`;  // an index is never ambiguous ("crane" is two classes)
  showClassChip();
  saveForm();
});
$("class-chip-remove").addEventListener("click", () => { dropClass(); saveForm(); $("class-name").focus(); });
$("layers").addEventListener("input", showClassChip);
modelSelect.addEventListener("change", () => { fillLooks(); showClassChip(); saveForm(); });

// ---------------------------------------------------------------------------- the channel picker

// A page of a layer's channels as pictures, made by the server in the background and patched in as
// they come; choosing one adds LAYER:CHANNEL (with the weight) to Layers, choosing it again takes it
// out. The tiles are rebuilt only when the user picks another layer or model.

const picker = $("picker");
const tileList = $("picker-tiles");
const PICKER_PAGE = 24;
const TILE_POLL_MS = 1000;
const TILE_TRIES = 600;  // ten minutes of looking for one tile, then the page stops asking
let pickerModel = "";
let pickerLayer = "";
let pickerTotal = 0;
let pickerGeneration = 0;  // a new layer or model makes every older answer moot
let pickerTimer = null;
let pickerTries = 0;
let askingFor = -1;  // the generation whose page is being asked for

function pickerSay(text) { $("picker-said").textContent = text; }

function layerTerms() { return $("layers").value.split(",").map(term => term.trim()).filter(Boolean); }

/** A term without its weight: "blocks.11:37=0.5" is "blocks.11:37". */
function termName(term) { return term.split("=")[0].trim(); }

function markChosenTiles() {
  const chosen = new Set(layerTerms().map(termName));
  for (const button of tileList.querySelectorAll(".tile")) {
    button.setAttribute("aria-pressed", String(chosen.has(button.dataset.term)));
  }
}

function toggleTerm(term) {
  const terms = layerTerms();
  const kept = terms.filter(existing => termName(existing) !== term);
  let words;
  if (kept.length < terms.length) {
    words = `Took ${term} out of Layers.`;
  } else {
    const weightInput = $("picker-weight");
    const weight = Number(weightInput.value);
    if (weightInput.value === "" || !weightInput.checkValidity() || !Number.isFinite(weight)) {
      say(`the weight must be a number from ${weightInput.min} to ${weightInput.max}`, true);
      weightInput.focus();
      return;
    }
    kept.push(weight === 1 ? term : `${term}=${weight}`);
    words = `Added ${kept.at(-1)} to Layers.`;
  }
  $("layers").value = kept.join(",");
  showClassChip();
  saveForm();
  pickerSay(words);
}

function pickerLayers() {
  const model = currentModel();
  const select = $("picker-layer");
  select.replaceChildren();
  if (!model) return;
  for (const layer of model.catalogue) {
    select.append(new Option(`${layer.name} (${layer.channels} channels)`, layer.name));
  }
  const lookLayers = (model.presets[chosenPreset()] || "").split(",");
  select.value = lookLayers.at(-1) || model.catalogue.at(-1).name;  // the look's deepest layer
}

function tileItem(tile) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "tile";
  button.dataset.term = tile.term;
  button.dataset.label = tile.label;
  button.setAttribute("aria-label", `Channel ${tile.label}, its picture is being made`);
  button.setAttribute("aria-pressed", "false");
  const picture = document.createElement("img");
  picture.alt = ""; picture.width = 128; picture.height = 128; picture.hidden = true;
  const wait = document.createElement("span");
  wait.className = "tile-wait";
  wait.textContent = "making…";
  const label = document.createElement("span");
  label.className = "tile-label";
  label.textContent = tile.label;
  button.append(picture, wait, label);
  button.addEventListener("click", () => toggleTerm(tile.term));
  const item = document.createElement("li");
  item.append(button);
  return item;
}

function patchTile(tile) {
  for (const button of tileList.querySelectorAll(`.tile[data-term="${CSS.escape(tile.term)}"]`)) {
    button.dataset.state = tile.state;
    const [picture, wait] = button.children;
    if (tile.state === "ready" && !picture.getAttribute("src")) {
      picture.src = tile.url;
      picture.hidden = false;
      wait.hidden = true;
      button.setAttribute("aria-label", `Channel ${button.dataset.label}`);
    } else if (tile.state === "failed") {
      wait.textContent = "no picture";
      button.title = tile.error;
      button.setAttribute("aria-label", `Channel ${button.dataset.label}, no picture: ${tile.error}`);
    }
  }
}

function tilesIn(first) { return [...tileList.querySelectorAll(".tile")].slice(first, first + PICKER_PAGE); }

function pending(buttons) { return buttons.filter(b => !["ready", "failed"].includes(b.dataset.state)); }

function showPickerProgress() {
  const buttons = [...tileList.querySelectorAll(".tile")];
  const made = buttons.length - pending(buttons).length;
  $("picker-progress").max = Math.max(1, buttons.length);
  $("picker-progress").value = made;
  $("picker-made").textContent = made < buttons.length ?
    `${made} of ${buttons.length} pictures made` : `All ${buttons.length} pictures made`;
  $("picker-more").hidden = buttons.length >= pickerTotal;
  return made < buttons.length;
}

function pickerUrl(first) {
  const model = encodeURIComponent(pickerModel);
  return `/api/tiles/${model}/layers/${encodeURIComponent(pickerLayer)}?first=${first}&count=${PICKER_PAGE}`;
}

/** Ask for the next page of the layer's channels and show its tiles (waiting ones as placeholders). */
async function askTiles(focusFirst = false) {
  const generation = pickerGeneration;
  const first = tileList.querySelectorAll(".tile").length;
  if (askingFor === generation) return;  // one page asked at a time: a double click adds it once
  askingFor = generation;
  pickerTries = 0;
  try {
    const page = await api(pickerUrl(first), { method: "POST" });
    if (generation !== pickerGeneration) return;
    pickerTotal = page.channels;
    tileList.append(...page.tiles.map(tileItem));
    page.tiles.forEach(patchTile);
    markChosenTiles();
    if (focusFirst && page.tiles.length) tilesIn(first)[0].focus();
    const waiting = showPickerProgress();
    if (waiting) pickerSay(`Making pictures of ${page.tiles.length} channels of ${pickerLayer}…`);
    followTiles(generation);
  } catch (error) {
    if (generation === pickerGeneration) say(error.message, true);
  } finally {
    if (askingFor === generation) askingFor = -1;
  }
}

/** While tiles are being made, look again each second and patch in the pictures that are ready. */
function followTiles(generation) {
  clearTimeout(pickerTimer);
  pickerTimer = setTimeout(async () => {
    if (generation !== pickerGeneration || !picker.open) return;
    const total = tileList.querySelectorAll(".tile").length;
    for (let first = 0; first < total; first += PICKER_PAGE) {
      const waiting = pending(tilesIn(first));
      if (!waiting.length) continue;
      // a tile the server no longer knows of (it restarted) is asked for again
      const asking = waiting.some(button => button.dataset.state === "not asked");
      try {
        const page = await api(pickerUrl(first), asking ? { method: "POST" } : {});
        if (generation !== pickerGeneration) return;
        page.tiles.forEach(patchTile);
      } catch (_) { /* looked at again next time */ }
    }
    pickerTries += 1;
    if (!showPickerProgress()) pickerSay(`All ${total} pictures are made.`);
    else if (pickerTries < TILE_TRIES) followTiles(generation);
    else pickerSay("The server is slow to make the pictures; close and open the picker to look again.");
  }, TILE_POLL_MS);
}

/** Show the chosen layer's first page, from scratch (another layer or model was chosen). */
function showPickerLayer() {
  pickerGeneration += 1;
  pickerTries = 0;
  clearTimeout(pickerTimer);
  pickerModel = modelSelect.value;
  pickerLayer = $("picker-layer").value;
  tileList.replaceChildren();
  const layer = (currentModel()?.catalogue || []).find(entry => entry.name === pickerLayer);
  $("picker-layer-help").textContent = layer ? layer.hint : "";
  $("picker-tiles-title").textContent = `Channels of ${pickerLayer}`;
  if (pickerLayer) askTiles();
}

picker.addEventListener("toggle", () => {
  if (!picker.open) return;
  pickerTries = 0;
  if (pickerModel !== modelSelect.value || !$("picker-layer").options.length) {
    pickerLayers();
    showPickerLayer();
  } else if (pickerLayer) {
    followTiles(pickerGeneration);
  }
});
// arrowing through the layers fires a change per layer passed: only the one stopped at is asked for
let layerPause = null;
$("picker-layer").addEventListener("change", () => {
  clearTimeout(layerPause);
  layerPause = setTimeout(showPickerLayer, 300);
});
// Enter in the weight chooses nothing and must not send the form
$("picker-weight").addEventListener("keydown", event => { if (event.key === "Enter") event.preventDefault(); });
$("picker-more").addEventListener("click", () => askTiles(true));
modelSelect.addEventListener("change", () => { if (picker.open) { pickerLayers(); showPickerLayer(); } });

// ------------------------------------------------------------------------------------------- seed

function seedLocked() { return $("seed-lock").getAttribute("aria-pressed") === "true"; }

function randomSeed() { $("seed").value = String(Math.floor(Math.random() * 2 ** 31)); saveForm(); }

$("seed-random").addEventListener("click", randomSeed);
$("seed-lock").addEventListener("click", () => {
  const locked = !seedLocked();
  $("seed-lock").setAttribute("aria-pressed", String(locked));
  $("seed-lock").textContent = locked ? "Locked" : "Unlocked";
  saveForm();
});

// ------------------------------------------------------------------------------------- variations

$("variations").addEventListener("change", () => {
  for (const id of ["vary1", "values1", "vary2", "values2"]) $(id).disabled = !$("variations").checked;
  submit.textContent = $("variations").checked ? "Dream the variations" : "Dream";
});

// -------------------------------------------------------------------------- form kept across reloads

const KEPT = ["model", "step_size", "steps", "octaves", "max_side", "seed", "layers", "keep_colors", "frames",
  "zoom", "rotate", "fps", "format", "stabilise", "blend", "flow"];

function formValues() {
  const values = { kind: kind(), preset: chosenPreset(), seed_locked: seedLocked() };
  for (const id of KEPT) values[id] = $(id).type === "checkbox" ? $(id).checked : $(id).value;
  return values;
}

function applyValues(values) {
  restoring = true;
  if (values.kind) {
    const radio = form.querySelector(`input[name="kind"][value="${values.kind}"]`);
    if (radio) radio.checked = true;
  }
  if (values.model && models.some(m => m.name === values.model)) modelSelect.value = values.model;
  fillLooks(values.preset);
  for (const id of KEPT) {
    if (id === "model" || values[id] === undefined) continue;
    if ($(id).type === "checkbox") $(id).checked = Boolean(values[id]); else $(id).value = values[id];
  }
  if (values.seed_locked === false && seedLocked()) $("seed-lock").click();
  $("class-name").value = "";
  showClassChip();
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

/** While an upload waits for the server, say whether it is sending or waiting for room. */
function watchSending() {
  let stopped = false;
  const look = async () => {
    if (stopped) return;
    try {
      const state = await api("/api/server");
      if (!stopped && state.waiting_uploads > 0) {
        say(`Waiting for room on the server (${state.waiting_uploads} upload(s) waiting)…`);
      }
    } catch (_) { /* the answer to the upload will say what went wrong */ }
    if (!stopped) timer = setTimeout(look, 1000);
  };
  let timer = setTimeout(look, 1000);
  return () => { stopped = true; clearTimeout(timer); };
}

form.addEventListener("submit", async event => {
  event.preventDefault();
  if (!chosenFile) { say(`choose a ${kind() === "video" ? "video" : "photo"} first`, true); return; }
  if (!seedLocked()) randomSeed();
  const values = formValues();
  delete values.seed_locked;
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
  const sweep = $("variations").checked && kind() === "dream";
  if (sweep) {
    for (const id of ["vary1", "values1", "vary2", "values2"]) if ($(id).value) data.set(id, $(id).value);
  }
  submit.disabled = true;
  clearFieldErrors();
  say("Sending…");
  const stopWatching = watchSending();
  try {
    const made = await api(sweep ? "/api/sweeps" : "/api/jobs", { method: "POST", body: data });
    const jobs = Array.isArray(made) ? made : [made];
    say(sweep ? `${jobs.length} variations of ${jobs[0].name} are queued.` : `${jobs[0].name} is queued.`);
    await refresh();
  } catch (error) {
    say(error.message.startsWith("Failed to fetch") ? "could not reach the server" : error.message, true);
    if (error.fields && error.fields.length) showFieldErrors(error.fields);
  } finally {
    stopWatching();
    submit.disabled = !chosenFile;
  }
});

// ------------------------------------------------------------------------------------ the gallery

const STATUS_WORDS = { queued: "queued", running: "dreaming", done: "done", failed: "failed",
  cancelled: "cancelled", interrupted: "interrupted" };

function className(index) { const entry = classes[index]; return entry ? entry.name : `class ${index}`; }

/** What a job dreams, in a few words: its classes, its look, or its layers. */
function jobTitle(job) {
  const s = job.settings;
  const named = (s.layers || "").split(",").map(t => /^class:(\d+)/.exec(t.trim())).filter(Boolean);
  if (named.length) return named.map(m => className(Number(m[1]))).join(" + ");
  if (s.preset) return `${s.preset} look`;
  const look = Object.entries(currentPresets(s.model)).find(([, layers]) => layers === s.layers);
  return look ? `${look[0]} look` : s.layers;
}

function currentPresets(model) {
  const found = models.find(m => m.name === model);
  return found ? found.presets : {};
}

function when(seconds) {
  const ago = Date.now() / 1000 - seconds;
  if (ago < 60) return "just now";
  if (ago < 3600) return `${Math.round(ago / 60)} min ago`;
  if (ago < 86400) return `${Math.round(ago / 3600)} h ago`;
  return new Date(seconds * 1000).toLocaleDateString();
}

function duration(seconds) {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** A place in the queue in words: "next in line", "2nd in line", "11th in line". */
function placeInLine(n) {
  if (n === 1) return "next in line";
  const teen = n % 100 >= 11 && n % 100 <= 13;
  return `${n}${teen ? "th" : { 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th"} in line`;
}

/** A job's state in words: its place in the queue or the time left, and its error. */
function statusText(job) {
  if (job.status === "queued") {
    const place = job.queue_position ? ` · ${placeInLine(job.queue_position)}` : "";
    const wait = job.eta_seconds ? ` · done in about ${duration(job.eta_seconds)}` : "";
    return `queued${place}${wait}`;
  }
  if (job.status === "running") {
    const left = job.eta_seconds ? ` · about ${duration(job.eta_seconds)} left` : "";
    return `dreaming ${Math.round(job.progress * 100)}%${left}${job.stage ? ` (${job.stage})` : ""}`;
  }
  return STATUS_WORDS[job.status] || job.status;
}

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

function button(text, className, action) {
  const made = element("button", `secondary ${className}`, text);
  made.type = "button";
  made.addEventListener("click", action);
  return made;
}

function setText(node, text) { if (node.textContent !== text) node.textContent = text; }

/** A card's picture: the dream (animated for zooms and videos), else its latest preview or photo. */
function pictureOf(job) {
  if (job.result_url && job.result_type === "video/mp4") return { video: job.result_url };
  return { image: job.result_url || job.preview_url || job.source_url };
}

function makeCard(job) {
  const card = element("li", "job");
  card.dataset.id = job.id;
  card.tabIndex = -1;
  const open = element("button", "thumb-button");
  open.type = "button";
  open.addEventListener("click", () => openViewer(job.id));
  const picture = element("img", "thumb");
  picture.alt = "";
  const badge = element("span", "badge");
  const clip = element("video", "thumb");
  clip.muted = true; clip.loop = true; clip.autoplay = true; clip.playsInline = true; clip.hidden = true;
  clip.setAttribute("aria-hidden", "true");
  open.append(picture, clip, badge);
  const body = element("div", "card-body");
  const title = element("h3", "title");
  const meta = element("p", "meta");
  const status = element("p", "status");
  const bar = element("progress");
  bar.max = 1;
  const error = element("p", "error");
  const summary = element("p", "summary");
  const summaryText = element("span");
  const copy = button("Copy settings", "copy", () => copySettings(latest(card)));
  summary.append(summaryText, " ", copy);
  const actions = element("div", "actions");
  const download = element("a", "download button-link", "Download");
  download.setAttribute("download", "");
  const buttons = {
    reuse: button("Use these settings", "reuse", () => useSettings(latest(card))),
    again: button("Dream again", "again", () => act(`/api/jobs/${job.id}/again`, "POST",
      `${latest(card).name} is queued again with a new seed.`)),
    share: button("Share", "share", () => openShare(latest(card))),
    cancel: button("Cancel", "cancel", () => act(`/api/jobs/${job.id}/cancel`)),
    retry: button("Retry", "retry", () => act(`/api/jobs/${job.id}/retry`)),
    delete: button("Delete", "delete", () => deleteJob(latest(card))),
  };
  actions.append(download, ...Object.values(buttons));
  body.append(title, meta, status, bar, error, summary, actions);
  card.append(open, body);
  return { el: card, job, open, picture, clip, badge, title, meta, status, bar, error, summaryText, download, buttons };
}

function latest(card) { return cards.get(card.dataset.id).job; }

/** Patch one card to ``job``: only what changed is touched, and a focused control that has to go
 * hands the focus to the card's picture, so a keyboard user never falls back to the page's top. */
function patchCard(record, job) {
  record.job = job;
  const { el } = record;
  el.dataset.status = job.status;
  el.dataset.kind = job.kind;
  const title = jobTitle(job);
  setText(record.title, title);
  record.open.setAttribute("aria-label", `Open ${title} (${job.name}) in the viewer`);
  record.open.disabled = !job.result_url && !job.preview_url && job.status !== "done";
  setText(record.meta, `${job.name} · seed ${job.settings.seed} · ${job.width}×${job.height} · ${when(job.created)}`);
  setText(record.status, statusText(job));
  record.bar.hidden = !ACTIVE.has(job.status);
  if (record.bar.value !== job.progress) record.bar.value = job.progress;
  record.bar.setAttribute("aria-label", `progress of ${title}`);
  setText(record.error, job.error && job.status !== "cancelled" ? job.error : "");
  record.error.hidden = !record.error.textContent;
  setText(record.summaryText, job.summary || "");
  record.summaryText.parentElement.hidden = !job.summary;
  setText(record.badge, job.kind === "dream" ? "" : job.kind);
  record.badge.hidden = job.kind === "dream";
  const picture = pictureOf(job);
  record.clip.hidden = !picture.video;
  record.picture.hidden = Boolean(picture.video);
  if (picture.video && record.clip.getAttribute("src") !== picture.video) record.clip.src = picture.video;
  if (picture.image && record.picture.getAttribute("src") !== picture.image) record.picture.src = picture.image;
  record.download.hidden = !job.result_url;
  if (job.result_url) {
    record.download.href = job.result_url;
    record.download.setAttribute("aria-label", `Download ${title} (${job.name})`);
  }
  const active = ACTIVE.has(job.status);
  const state = {
    reuse: true, again: !active, share: job.status === "done", cancel: active,
    retry: ["failed", "cancelled", "interrupted"].includes(job.status), delete: job.status !== "running",
  };
  for (const [name, visible] of Object.entries(state)) hideKeepingFocus(record, record.buttons[name], !visible);
  record.buttons.share.textContent = job.share_url ? "Shared: manage" : "Share";
}

function hideKeepingFocus(record, control, hidden) {
  if (control.hidden === hidden) return;
  const hadFocus = document.activeElement === control;
  control.hidden = hidden;
  if (hadFocus) (record.open.disabled ? record.el : record.open).focus({ preventScroll: true });
}

/** A group of variations (one sweep) as one card: a labelled grid whose cells open in the viewer. */
function makeGroupCard(group) {
  const card = element("li", "job group");
  card.dataset.id = `group:${group.id}`;
  card.tabIndex = -1;
  const title = element("h3", "title");
  const meta = element("p", "meta");
  const grid = element("div", "variations");
  grid.setAttribute("role", "group");
  const actions = element("div", "actions");
  const remove = button("Delete all", "delete", () => deleteGroup(card));
  actions.append(remove);
  card.append(title, meta, grid, actions);
  return { el: card, group, title, meta, grid, cells: new Map(), remove, jobs: [] };
}

function patchGroupCard(record, group, jobs) {
  record.jobs = jobs;
  const first = jobs[0];
  setText(record.title, `Variations: ${first.name}`);
  const done = jobs.filter(job => job.status === "done").length;
  setText(record.meta, `${group.rows} × ${group.columns} · ${done} of ${jobs.length} done · ${when(first.created)}`);
  record.grid.style.setProperty("--columns", String(group.columns));
  record.grid.setAttribute("aria-label", `Variations of ${first.name}`);
  for (const job of jobs) {
    let cell = record.cells.get(job.id);
    if (!cell) {
      cell = element("button", "cell");
      cell.type = "button";
      cell.append(element("img"), element("span", "cell-label"), element("span", "cell-status"));
      cell.querySelector("img").alt = "";
      cell.addEventListener("click", () => openViewer(job.id));
      cell.style.gridRow = String(job.group.row + 1);
      cell.style.gridColumn = String(job.group.column + 1);
      record.cells.set(job.id, cell);
      record.grid.append(cell);
    }
    const picture = pictureOf(job).image;
    const img = cell.querySelector("img");
    if (picture && img.getAttribute("src") !== picture) img.src = picture;
    setText(cell.querySelector(".cell-label"), job.group.label);
    setText(cell.querySelector(".cell-status"), job.status === "done" ? "" : statusText(job));
    cell.setAttribute("aria-label", `${job.group.label}: ${statusText(job)}; open in the viewer`);
  }
  const running = jobs.some(job => job.status === "running");  // a running cell cannot be deleted
  if (record.remove.hidden !== running) {
    const hadFocus = document.activeElement === record.remove;
    record.remove.hidden = running;
    if (hadFocus) record.cells.values().next().value.focus({ preventScroll: true });
  }
}

/** Put the gallery's cards in the order of ``jobs``, patching those there, adding new ones and
 * removing those gone; nodes that stay are never moved or rebuilt. */
function patchGallery(jobs) {
  const entries = [];
  const groups = new Map();
  for (const job of jobs) {
    if (!job.group) { entries.push({ key: job.id, job }); continue; }
    let entry = groups.get(job.group.id);
    if (!entry) {
      entry = { key: `group:${job.group.id}`, group: job.group, jobs: [] };
      groups.set(job.group.id, entry);
      entries.push(entry);
    }
    entry.jobs.push(job);
  }
  const wanted = new Set(entries.map(entry => entry.key));
  for (const [key, record] of cards) if (!wanted.has(key)) removeCard(key, record);
  let before = jobList.firstElementChild;
  for (const entry of entries) {
    let record = cards.get(entry.key);
    if (!record) {
      record = entry.group ? makeGroupCard(entry.group) : makeCard(entry.job);
      cards.set(entry.key, record);
      jobList.insertBefore(record.el, before);
    } else if (record.el !== before) {
      jobList.insertBefore(record.el, before);  // only when the order changed
    }
    if (entry.group) patchGroupCard(record, entry.group, entry.jobs); else patchCard(record, entry.job);
    before = record.el.nextElementSibling;
  }
  shown = entries.flatMap(entry => entry.group ? [...entry.jobs].sort((a, b) =>
    a.group.row - b.group.row || a.group.column - b.group.column) : [entry.job]);
  if (viewer.open) refreshViewer();
}

function removeCard(key, record) {
  const hadFocus = record.el.contains(document.activeElement);
  const next = record.el.nextElementSibling || record.el.previousElementSibling;
  record.el.remove();
  cards.delete(key);
  if (hadFocus) (next ? next.querySelector("button:not([hidden]):not(:disabled)") || next : $("gallery-title")).focus();
}

/** Tell screen readers what changed: a job that arrived, started, finished or failed, and each
 * quarter of a running one. The jobs already there when the page loads are not read out. */
function announce(jobs, firstLook) {
  const said = [];
  for (const job of jobs) {
    const quarter = job.status === "running" ? Math.floor(job.progress * 4) : -1;
    const now = `${job.status}:${quarter}`;
    const before = heard.get(job.id);
    heard.set(job.id, now);
    if (firstLook || before === now) continue;
    if (job.status === "running") said.push(`${jobTitle(job)} of ${job.name}: ${statusText(job)}`);
    else said.push(`${jobTitle(job)} of ${job.name}: ${STATUS_WORDS[job.status] || job.status}`);
  }
  if (said.length) $("announcer").textContent = said.join(". ");
}

async function refresh() {
  clearTimeout(pollTimer);
  try {
    const query = new URLSearchParams({ limit: String(limit) });
    if ($("filter-kind").value) query.set("kind", $("filter-kind").value);
    if ($("filter-look").value) query.set("look", $("filter-look").value);
    const response = await fetch(`/api/jobs?${query}`);
    if (!response.ok) throw await apiError(response);
    const jobs = await response.json();
    const total = Number(response.headers.get("X-Total-Count") || jobs.length);
    patchGallery(jobs);
    announce(jobs, !looked);
    looked = true;
    $("no-jobs").hidden = jobs.length > 0;
    setText($("job-count"), total ? `(${total})` : "");
    $("more").hidden = total <= jobs.length;
    pollTimer = setTimeout(refresh, jobs.some(job => ACTIVE.has(job.status)) ? 700 : 5000);
  } catch (_) {
    pollTimer = setTimeout(refresh, 5000);
  }
}

for (const id of ["filter-kind", "filter-look"]) $(id).addEventListener("change", () => { limit = PAGE; refresh(); });
$("more").addEventListener("click", () => { limit += PAGE; refresh(); });

async function act(path, method = "POST", words = "") {
  try {
    await api(path, { method });
    if (words) say(words);
  } catch (error) { say(error.message, true); }
  await refresh();
}

async function deleteJob(job) {
  if (!confirm(`Delete ${jobTitle(job)} of ${job.name} and its dream?`)) return;
  await act(`/api/jobs/${job.id}`, "DELETE", `${job.name} deleted.`);
}

async function deleteGroup(card) {
  const record = cards.get(card.dataset.id);
  if (!confirm(`Delete all ${record.jobs.length} variations of ${record.jobs[0].name}?`)) return;
  for (const job of record.jobs) {
    try { await api(`/api/jobs/${job.id}`, { method: "DELETE" }); } catch (error) { say(error.message, true); }
  }
  await refresh();
}

async function copySettings(job) {
  try {
    await navigator.clipboard.writeText(job.summary || JSON.stringify(job.settings));
    say("The settings are copied.");
  } catch (_) { say("your browser did not allow copying; select the settings line instead", true); }
}

function useSettings(job) {
  const s = job.settings;
  const values = { kind: job.kind, model: s.model, preset: s.preset, steps: s.steps, octaves: s.octaves,
    step_size: s.step_size, seed: s.seed, max_side: s.max_side, keep_colors: s.keep_colors,
    layers: s.preset && currentPresets(s.model)[s.preset] === s.layers ? "" : s.layers };
  if (job.options.motion) Object.assign(values, job.options.motion);
  if (job.options.coherence) Object.assign(values, job.options.coherence);
  applyValues(values);
  if (seedLocked() === false) $("seed-lock").click();  // the settings as they were, seed included
  saveForm();
  if (viewer.open) viewer.close();
  say(`Settings of ${job.name} are in the form; choose a ${job.kind === "video" ? "video" : "photo"} and dream.`);
  form.scrollIntoView({ behavior: "smooth" });
  $("steps").focus({ preventScroll: true });
}

// --------------------------------------------------------------------------------------- viewer

const viewer = $("viewer");
let viewing = null;  // the id of the job in the viewer
let scale = 0;  // 0: fit to the window; else the picture's size as a share of its own pixels

function openViewer(jobId) {
  viewing = jobId;
  scale = 0;
  setDivider(50);
  showInViewer();
  if (!viewer.open) viewer.showModal();
}

function viewedJob() { return shown.find(job => job.id === viewing); }

function showInViewer() {
  const job = viewedJob();
  if (!job) return;
  const index = shown.indexOf(job);
  $("viewer-title").textContent = `${jobTitle(job)} · ${job.name}`;
  setText($("viewer-summary"), job.summary || statusText(job));
  $("viewer-prev").disabled = index <= 0;
  $("viewer-next").disabled = index >= shown.length - 1;
  const still = job.kind === "dream";
  $("compare").hidden = !still;
  $("viewer-video").hidden = true;
  $("viewer-animation").hidden = true;
  $("viewer-download").hidden = !job.result_url;
  $("viewer-copy-image").hidden = !still || !job.result_url;
  if (job.result_url) $("viewer-download").href = job.result_url;
  if (still) {
    setSource($("compare-before"), job.source_url);
    setSource($("compare-after"), job.result_url || job.preview_url || job.source_url);
  } else if (job.result_type === "video/mp4" && job.result_url) {
    setSource($("viewer-video"), job.result_url);
    $("viewer-video").hidden = false;
  } else {
    setSource($("viewer-animation"), job.result_url || job.preview_url || job.source_url);
    $("viewer-animation").hidden = false;
  }
  applyScale();
}

function refreshViewer() { if (viewedJob()) showInViewer(); }

function setSource(node, url) { if (node.getAttribute("src") !== url) node.src = url; }

function step(by) {
  const index = shown.findIndex(job => job.id === viewing);
  const next = shown[index + by];
  if (!next) return;
  viewing = next.id;
  scale = 0;
  showInViewer();
}

/** Fit: the whole picture in the window. Otherwise its pixels times ``scale``, scrolled in the stage. */
function applyScale() {
  const before = $("compare-before");
  const natural = before.naturalWidth || 0;
  $("stage").classList.toggle("zoomed", scale > 0);
  $("compare").style.width = scale > 0 && natural ? `${Math.round(natural * scale)}px` : "";
  $("viewer-fit").setAttribute("aria-pressed", String(scale === 0));
  $("viewer-actual").setAttribute("aria-pressed", String(scale === 1));
}

function zoomBy(factor) {
  const natural = $("compare-before").naturalWidth || 1;
  const current = scale || $("compare").getBoundingClientRect().width / natural;
  scale = Math.min(8, Math.max(0.1, current * factor));
  applyScale();
}

function setDivider(percent) {
  const value = Math.round(Math.min(100, Math.max(0, percent)));
  $("compare-after-box").style.clipPath = `inset(0 0 0 ${value}%)`;
  $("divider").style.left = `${value}%`;
  $("divider").setAttribute("aria-valuenow", String(value));
  $("divider").setAttribute("aria-valuetext", `the photo on the left ${value}%, the dream on the right`);
}

$("divider").addEventListener("keydown", event => {
  const now = Number($("divider").getAttribute("aria-valuenow"));
  const moves = { ArrowLeft: -5, ArrowDown: -5, ArrowRight: 5, ArrowUp: 5, PageDown: -25, PageUp: 25 };
  if (event.key in moves) setDivider(now + moves[event.key]);
  else if (event.key === "Home") setDivider(0);
  else if (event.key === "End") setDivider(100);
  else return;
  event.preventDefault();
  event.stopPropagation();  // the arrows move the divider here, not to another dream
});

let dragging = false;
$("compare").addEventListener("pointerdown", event => {
  dragging = true;
  $("compare").setPointerCapture(event.pointerId);
  moveDivider(event);
});
$("compare").addEventListener("pointermove", event => { if (dragging) moveDivider(event); });
for (const name of ["pointerup", "pointercancel"]) $("compare").addEventListener(name, () => { dragging = false; });

function moveDivider(event) {
  const box = $("compare").getBoundingClientRect();
  setDivider(((event.clientX - box.left) / box.width) * 100);
}

viewer.addEventListener("keydown", event => {
  if (event.target.closest("input, textarea, video")) return;
  if (event.key === "ArrowLeft") step(-1);
  else if (event.key === "ArrowRight") step(1);
  else if (event.key === "+" || event.key === "=") zoomBy(1.5);
  else if (event.key === "-") zoomBy(1 / 1.5);
  else if (event.key === "0") { scale = 0; applyScale(); } else return;
  event.preventDefault();
});
$("viewer-prev").addEventListener("click", () => step(-1));
$("viewer-next").addEventListener("click", () => step(1));
$("viewer-fit").addEventListener("click", () => { scale = 0; applyScale(); });
$("viewer-actual").addEventListener("click", () => { scale = 1; applyScale(); });
$("viewer-zoom-in").addEventListener("click", () => zoomBy(1.5));
$("viewer-zoom-out").addEventListener("click", () => zoomBy(1 / 1.5));
$("compare-before").addEventListener("load", applyScale);
$("viewer-close").addEventListener("click", () => viewer.close());
$("viewer-copy-settings").addEventListener("click", () => { const job = viewedJob(); if (job) copySettings(job); });
$("viewer-reuse").addEventListener("click", () => { const job = viewedJob(); if (job) useSettings(job); });
$("viewer-copy-image").addEventListener("click", async () => {
  const job = viewedJob();
  if (!job || !job.result_url) return;
  try {
    const picture = await (await fetch(job.result_url)).blob();
    await navigator.clipboard.write([new ClipboardItem({ [picture.type]: picture })]);
    say("The image is copied.");
  } catch (_) { say("your browser did not allow copying the image; download it instead", true); }
});
viewer.addEventListener("close", () => {
  $("viewer-video").pause();
  const record = cards.get(viewing) || [...cards.values()].find(r => r.cells && r.cells.has(viewing));
  const back = record && (record.cells ? record.cells.get(viewing) : record.open);
  if (back && document.contains(back)) back.focus({ preventScroll: true });
});

// ---------------------------------------------------------------------------------------- sharing

const shareDialog = $("share-dialog");
let sharing = null;

function openShare(job) {
  sharing = job;
  $("share-settings").checked = false;
  showShare(job.share_url);
  setText($("share-message"), "");
  shareDialog.showModal();
}

function showShare(url) {
  const link = url ? new URL(url, location.href).href : "";
  $("share-url").value = link;
  $("share-url").hidden = !url;
  $("share-copy").hidden = !url;
  $("share-revoke").hidden = !url;
  $("share-create").hidden = Boolean(url);
  $("share-settings").disabled = Boolean(url);
}

$("share-create").addEventListener("click", async () => {
  const data = new FormData();
  data.set("settings", $("share-settings").checked ? "true" : "false");
  try {
    const made = await api(`/api/jobs/${sharing.id}/share`, { method: "POST", body: data });
    showShare(made.url);
    setText($("share-message"), "Anyone with this link can see the dream.");
    $("share-copy").focus();
  } catch (error) { setText($("share-message"), error.message); }
  refresh();
});
$("share-copy").addEventListener("click", async () => {
  try { await navigator.clipboard.writeText($("share-url").value); setText($("share-message"), "The link is copied."); }
  catch (_) { $("share-url").select(); setText($("share-message"), "Copy the selected link."); }
});
$("share-revoke").addEventListener("click", async () => {
  try {
    await api(`/api/jobs/${sharing.id}/share`, { method: "DELETE" });
    showShare(null);
    setText($("share-message"), "The link no longer works.");
    $("share-create").focus();
  } catch (error) { setText($("share-message"), error.message); }
  refresh();
});
$("share-close").addEventListener("click", () => shareDialog.close());

// ------------------------------------------------------------------------------------------ start

async function start() {
  try {
    const [found, names] = await Promise.all([api("/api/models"), api("/api/classes")]);
    models = found;
    classes = names;
    for (const model of models) modelSelect.add(new Option(model.name, model.name));
    fillClasses();
    fillLookFilter();
    restoreForm();
    if (!models.length) say("this server has no model weights installed", true);
  } catch (error) {
    say(`could not load the page's settings: ${error.message}`, true);
  }
  await refresh();
}

start();
