// Plain JS, no dependencies: calls the service's own APIs (/styles, /colorize, /stylize, /stylize_upload).
// Errors come as JSON objects {error, message, field}; the page shows `message` as text.
// With CHROMASTYLE_API_KEY set on the server, a 401 reveals a key field; the key stays in this tab.
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
  $("download").hidden = true;
  $("download").removeAttribute("href");
}

// The button names what it will do: with a gallery style or an uploaded painting it stylises.
function actionLabel() {
  return styleName || $("style-file").files.length ? "Stylise" : "Colourise";
}

function setPhoto(file) {
  photo = file;
  showImage("before", URL.createObjectURL(file));
  clearResult();
  $("go").disabled = false;
  showError("");
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
});

$("style-file").addEventListener("change", () => { $("go").textContent = actionLabel(); });

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

$("go").addEventListener("click", async () => {
  const form = new FormData();
  form.append("image", photo);
  const styleFile = $("style-file").files[0];
  let api = "colorize";
  if (styleFile || styleName) {
    form.append("alpha", $("alpha").value);
    form.append("preserve_color", $("preserve").checked ? "true" : "false");
    if (styleFile) { api = "stylize_upload"; form.append("style_image", styleFile); }
    else { api = "stylize"; form.append("style_name", styleName); }
  }
  $("go").disabled = true;
  $("go").textContent = "Working…";
  try {
    const response = await fetch(`/${api}`, { method: "POST", body: form, headers: authHeaders() });
    if (!response.ok) throw new Error(await errorMessage(response));
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    showImage("after", url);
    $("download").href = url;
    $("download").download = `chromastyle.${(blob.type.split("/")[1] || "png").replace("jpeg", "jpg")}`;
    $("download").hidden = false;
    showError("");
  } catch (err) {
    clearResult();
    showError(`Could not process this image: ${err.message}`);
  } finally {
    $("go").disabled = false;
    $("go").textContent = actionLabel();
  }
});

$("api-key").addEventListener("change", () => {
  sessionStorage.setItem("chromastyle-api-key", $("api-key").value);
  showError("");
  if ($("gallery").children.length < 2) loadGallery().catch((err) => showError(err.message));
});

loadGallery().catch((err) => showError(`Could not load the style gallery: ${err.message}`));
