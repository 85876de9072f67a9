// Plain JS, no dependencies: calls the service's own APIs (/styles, /info, /colorize, /stylize, /stylize_upload).
// Errors come as JSON objects {error, message, field}; the page shows `message` as text.
// With CHROMASTYLE_API_KEY set on the server, a 401 reveals a key field; the key stays in this tab.
// Colour hints, for a model that takes them (GET /info): pins on the photo, each a point in the photo's own
// pixels (what /colorize expects, whatever size the photo is shown at) with a colour; a reference photo
// lends its palette. Every change colourises again, and only the newest answer is shown.
const $ = (id) => document.getElementById(id);

function authHeaders() {
  const key = sessionStorage.getItem("chromastyle-api-key");
  return key ? { "X-API-Key": key } : {};
}

async function errorMessage(response) {
  if (response.status === 401) $("key-row").hidden = false;
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && typeof body.message === "string") return body.message;
  } catch (_) { /* not JSON */ }
  return `${response.status} ${response.statusText}`;
}
let photo = null;
let styleName = "";
let takesHints = false;
let hints = [];  // {x, y, color}: the photo's pixels, '#rrggbb'
let latestRequest = 0;
let resultIsColourisation = false;  // the shown result is a colourisation of this photo: its colours seed new hints

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

// The images stay hidden until they have a source (no broken-image placeholder before an upload).
function showImage(id, url) {
  const image = $(id);
  if (image.src.startsWith("blob:")) URL.revokeObjectURL(image.src);
  if (url) image.src = url; else image.removeAttribute("src");
  image.hidden = !url;
}

// A result belongs to the photo and settings it came from: cleared by an error or a new photo.
function clearResult() {
  showImage("after", null);
  resultIsColourisation = false;
  $("download").hidden = true;
  $("download").removeAttribute("href");
}

function stylising() {
  return Boolean(styleName || $("style-file").files.length);
}

// The button names what it will do: with a gallery style or an uploaded painting it stylises.
function actionLabel() {
  return stylising() ? "Stylise" : "Colourise";
}

// Hints steer the colourisation only: the pins and their list show on the colourise view of a hint model.
function updateHintPanel() {
  const active = takesHints && photo !== null && !stylising();
  $("hint-panel").hidden = !active;
  $("pins").hidden = !active;
}

function setPhoto(file) {
  photo = file;
  showImage("before", URL.createObjectURL(file));
  clearResult();
  hints = [];  // points of another photo
  renderHints();
  updateHintPanel();
  $("go").disabled = false;
  showError("");
}

// The photo's own pixel under the pointer (the photo may be shown scaled down).
function photoPoint(event) {
  const image = $("before");
  const box = image.getBoundingClientRect();
  const inside = (value, size) => Math.min(size - 1, Math.max(0, Math.floor(value)));
  return { x: inside((event.clientX - box.left) * image.naturalWidth / box.width, image.naturalWidth),
           y: inside((event.clientY - box.top) * image.naturalHeight / box.height, image.naturalHeight) };
}

function pixelColour(image, x, y) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 1;
  const context = canvas.getContext("2d");
  context.drawImage(image, x, y, 1, 1, 0, 0, 1, 1);
  const [r, g, b] = context.getImageData(0, 0, 1, 1).data;
  return `#${[r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}

// A new hint starts as the colour the model chose there, so the user adjusts rather than starts from gray.
function defaultColour(x, y) {
  const result = $("after");
  return pixelColour(resultIsColourisation && result.complete ? result : $("before"), x, y);
}

function placePin(pin, hint) {
  pin.style.left = `${(hint.x + 0.5) / $("before").naturalWidth * 100}%`;
  pin.style.top = `${(hint.y + 0.5) / $("before").naturalHeight * 100}%`;
}

function pinFor(hint, index) {
  const pin = document.createElement("button");
  pin.type = "button";
  pin.className = "pin";
  pin.title = "drag to move, right-click to remove";
  pin.style.background = hint.color;
  placePin(pin, hint);
  let moved = false;
  pin.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    moved = false;
    pin.setPointerCapture(event.pointerId);
  });
  pin.addEventListener("pointermove", (event) => {
    if (!pin.hasPointerCapture(event.pointerId)) return;
    Object.assign(hint, photoPoint(event));
    placePin(pin, hint);
    $("hints").children[index].querySelector(".where").textContent = ` at (${hint.x}, ${hint.y}) `;
    moved = true;
  });
  // Not re-rendered here: the click that follows must still find this pin, not the photo (a new hint).
  pin.addEventListener("pointerup", () => { if (moved) colourise(); });
  pin.addEventListener("contextmenu", (event) => { event.preventDefault(); removeHint(index); });
  return pin;
}

function rowFor(hint, index) {
  const row = document.createElement("li");
  row.className = "hint";
  const picker = document.createElement("input");
  picker.type = "color";
  picker.value = hint.color;
  picker.addEventListener("input", () => {
    hint.color = picker.value;
    $("pins").children[index].style.background = picker.value;
  });
  picker.addEventListener("change", () => colourise());
  const where = document.createElement("span");
  where.className = "where";
  where.textContent = ` at (${hint.x}, ${hint.y}) `;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "×";
  remove.title = "remove this hint";
  remove.addEventListener("click", () => removeHint(index));
  row.append(picker, where, remove);
  return row;
}

function renderHints() {
  $("pins").replaceChildren(...hints.map(pinFor));
  $("hints").replaceChildren(...hints.map(rowFor));
}

function removeHint(index) {
  hints.splice(index, 1);
  renderHints();
  colourise();
}

function colourise() {
  if (photo && !stylising()) run();
}

async function loadGallery() {
  const response = await fetch("/styles", { headers: authHeaders() });
  if (!response.ok) throw new Error(await errorMessage(response));
  for (const { name, thumbnail } of await response.json()) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "thumb";
    button.dataset.style = name;
    button.title = name;
    const image = document.createElement("img");
    image.src = thumbnail;
    image.alt = "";  // the name is shown below it
    const label = document.createElement("span");
    label.textContent = name;
    button.append(image, label);
    $("gallery").appendChild(button);
  }
}

$("gallery").addEventListener("click", (event) => {
  const button = event.target.closest(".thumb");
  if (!button) return;
  document.querySelectorAll(".thumb").forEach((b) => b.classList.remove("selected"));
  button.classList.add("selected");
  styleName = button.dataset.style;
  $("style-file").value = "";
  $("go").textContent = actionLabel();
  updateHintPanel();
});

$("style-file").addEventListener("change", () => {
  $("go").textContent = actionLabel();
  updateHintPanel();
});
$("pins").addEventListener("click", (event) => {
  if (event.target !== $("pins") || !$("before").naturalWidth) return;  // a pin itself, or no photo yet
  const { x, y } = photoPoint(event);
  hints.push({ x, y, color: defaultColour(x, y) });
  renderHints();
  colourise();
});
$("reference-file").addEventListener("change", () => colourise());

$("pick").addEventListener("click", () => $("file").click());
$("file").addEventListener("change", () => $("file").files[0] && setPhoto($("file").files[0]));
$("drop").addEventListener("dragover", (e) => { e.preventDefault(); $("drop").classList.add("over"); });
$("drop").addEventListener("dragleave", () => $("drop").classList.remove("over"));
$("drop").addEventListener("drop", (e) => {
  e.preventDefault();
  $("drop").classList.remove("over");
  if (e.dataTransfer.files[0]) setPhoto(e.dataTransfer.files[0]);
});
$("alpha").addEventListener("input", () => { $("alpha-out").value = Number($("alpha").value).toFixed(2); });

function currentRequest() {
  const form = new FormData();
  form.append("image", photo);
  const styleFile = $("style-file").files[0];
  if (styleFile || styleName) {
    form.append("alpha", $("alpha").value);
    form.append("preserve_color", $("preserve").checked ? "true" : "false");
    if (styleFile) { form.append("style_image", styleFile); return { api: "stylize_upload", form }; }
    form.append("style_name", styleName);
    return { api: "stylize", form };
  }
  if (takesHints && hints.length) form.append("hints", JSON.stringify(hints));
  const reference = $("reference-file").files[0];
  if (takesHints && reference) form.append("reference", reference);
  return { api: "colorize", form };
}

// A request for the current photo and settings; a newer one may start meanwhile (a hint moved again):
// the answer of an older one is dropped.
async function run() {
  const { api, form } = currentRequest();
  const id = ++latestRequest;
  $("go").disabled = true;
  $("go").textContent = "Working…";
  try {
    const response = await fetch(`/${api}`, { method: "POST", body: form, headers: authHeaders() });
    if (!response.ok) throw new Error(await errorMessage(response));
    const blob = await response.blob();
    if (id !== latestRequest) return;
    const url = URL.createObjectURL(blob);
    showImage("after", url);
    resultIsColourisation = api === "colorize";
    $("download").href = url;
    $("download").download = `chromastyle.${(blob.type.split("/")[1] || "png").replace("jpeg", "jpg")}`;
    $("download").hidden = false;
    showError("");
  } catch (err) {
    if (id !== latestRequest) return;
    clearResult();
    showError(`Could not process this image: ${err.message}`);
  } finally {
    if (id === latestRequest) {
      $("go").disabled = false;
      $("go").textContent = actionLabel();
    }
  }
}

$("go").addEventListener("click", run);

$("api-key").addEventListener("change", () => {
  sessionStorage.setItem("chromastyle-api-key", $("api-key").value);
  showError("");
  if ($("gallery").children.length < 2) loadGallery().catch((err) => showError(err.message));
  loadInfo().catch(() => { /* loadGallery reports the same failure */ });
});

async function loadInfo() {
  const response = await fetch("/info", { headers: authHeaders() });
  if (!response.ok) throw new Error(await errorMessage(response));
  takesHints = (await response.json()).hints === true;
  updateHintPanel();
}

loadGallery().catch((err) => showError(`Could not load the style gallery: ${err.message}`));
loadInfo().catch(() => { /* loadGallery reports the same failure */ });
