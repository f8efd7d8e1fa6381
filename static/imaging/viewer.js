// Diffusion-MRI viewer: every <div class="dwi-viewer" data-b0 data-fa data-color-fa data-mask>
// becomes a NiiVue canvas with the b0 in grey, FA or colour FA over it, view and opacity controls,
// and the FA value under the crosshair. NiiVue is vendored (static/vendor/niivue, no CDN).
//
// Attributes: data-b0, data-fa, data-color-fa (URLs of .nii.gz, same origin, session cookie);
// data-mask (optional: overlays are cleared outside the brain mask); data-height (CSS height of
// the canvas, default 480px); data-labels (optional JSON of the strings in LABELS, for translation);
// data-fa-threshold (optional: the FA below which FA and colour FA are hidden at first, default 0.2).
// State for tests and templates: div.dataset.state is "loading", then "ready" or "error";
// div.dataset.faThreshold is the threshold in force and div.dataset.shownVoxels the number of brain
// voxels the overlay shows at it; window.dwiViewers lists the Niivue instances that are ready.
const NIIVUE_URL = new URL("../vendor/niivue/niivue.js", import.meta.url);
let niivueModule = null; // NiiVue (3 MB) is imported once, when the first viewer starts
const loadNiivue = () => (niivueModule ??= import(NIIVUE_URL.href));

const LABELS = {
  overlay: "Overlay",
  fa: "FA",
  colorFa: "Colour FA",
  opacity: "Opacity",
  threshold: "Hide FA below",
  view: "View",
  axial: "Axial",
  coronal: "Coronal",
  sagittal: "Sagittal",
  multiplanar: "Multiplanar",
  readout: "FA {value} at voxel {x}, {y}, {z}",
  outside: "outside the image",
  loading: "Loading images…",
  noWebgl: "This browser cannot show the images: WebGL2 is not available. Use a current Chrome, Edge or Firefox, with hardware acceleration on.",
  httpError: "The {what} image could not be loaded (HTTP {status}).",
  networkError: "The {what} image could not be loaded: the server did not answer.",
  notNifti: "The {what} image is not a NIfTI file (perhaps the session expired: reload the page).",
  parseError: "The {what} image could not be read: {detail}",
  missingUrl: "No address is given for the {what} image.",
  libraryError: "The image viewer could not be loaded; reload the page.",
  colorFaFormat: "The colour FA image must be float32 X×Y×Z×3 or RGB24; it is neither.",
  b0: "b0",
  mask: "brain mask",
  regions: "Carried regions",
  regionsImage: "carried regions",
};

// Colours of the regions carried from another scan, one per label value in increasing order: cool
// colours first, apart from FA's warm colour scale under them.
const REGION_COLOURS = [
  [0, 130, 200], [60, 180, 75], [240, 50, 230], [70, 240, 240], [145, 30, 180], [170, 255, 195],
  [0, 0, 128], [220, 190, 255], [0, 128, 128], [230, 25, 75], [128, 128, 128], [255, 255, 255],
];

const NIFTI_DT_FLOAT32 = 16;
const DEFAULT_FA_THRESHOLD = 0.2;
// NiiVue's colour map type that starts the colours at 0 and makes voxels below cal_min transparent:
// the colours of FA stay put while the threshold moves.
const ZERO_TO_MAX_TRANSPARENT_BELOW_MIN = 1;
const NIFTI_DT_RGB24 = 128;
const NIFTI_DT_RGBA32 = 2304;

window.dwiViewers = window.dwiViewers || [];

class ViewerError extends Error {}

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => (key in values ? String(values[key]) : `{${key}}`));
}

let webgl2Available = null;
function hasWebGL2() {
  if (webgl2Available === null) {
    try {
      webgl2Available = !!document.createElement("canvas").getContext("webgl2");
    } catch {
      webgl2Available = false;
    }
  }
  return webgl2Available;
}

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// Fetches one NIfTI (same origin, with the session cookie) and parses it with NiiVue.
async function fetchVolume(NVImage, url, what, labels, options = {}) {
  if (!url) throw new ViewerError(fill(labels.missingUrl, { what }));
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/gzip, application/octet-stream" } });
  } catch {
    throw new ViewerError(fill(labels.networkError, { what }));
  }
  if (!response.ok) throw new ViewerError(fill(labels.httpError, { what, status: response.status }));
  const buffer = await response.arrayBuffer();
  const bytes = new Uint8Array(buffer, 0, Math.min(4, buffer.byteLength));
  const gzipped = bytes[0] === 0x1f && bytes[1] === 0x8b;
  const view = new DataView(buffer);
  const headerSize = buffer.byteLength >= 4 ? view.getInt32(0, true) : 0;
  const headerSizeBE = buffer.byteLength >= 4 ? view.getInt32(0, false) : 0;
  const plainNifti = [348, 540].includes(headerSize) || [348, 540].includes(headerSizeBE);
  if (!gzipped && !plainNifti) throw new ViewerError(fill(labels.notNifti, { what }));
  try {
    return await NVImage.loadFromUrl({ url: buffer, name: `${what.replace(/\W+/g, "_")}.nii${gzipped ? ".gz" : ""}`, ...options });
  } catch (error) {
    throw new ViewerError(fill(labels.parseError, { what, detail: error?.message || error }));
  }
}

function sameGrid(a, b) {
  return [1, 2, 3].every((i) => a.hdr.dims[i] === b.hdr.dims[i]);
}

// Clears overlay voxels outside the mask (mask and overlay on the same voxel grid).
function applyMask(volume, mask) {
  if (!mask || !sameGrid(volume, mask)) return;
  const n = volume.nVox3D;
  const inside = new Uint8Array(n);
  for (let i = 0; i < n; i++) inside[i] = mask.img[i] > 0 ? 1 : 0;
  const img = volume.img;
  const code = volume.hdr.datatypeCode;
  const perVoxel = code === NIFTI_DT_RGBA32 ? 4 : code === NIFTI_DT_RGB24 ? 3 : 0;
  if (perVoxel) {
    for (let i = 0; i < n; i++) if (!inside[i]) img.fill(0, i * perVoxel, (i + 1) * perVoxel);
  } else {
    const frames = Math.max(1, Math.round(img.length / n));
    for (let f = 0; f < frames; f++) for (let i = 0; i < n; i++) if (!inside[i]) img[f * n + i] = 0;
  }
}

// NiiVue draws an RGB24 overlay with its luminance as alpha, so pure red or blue would be almost
// invisible; as RGBA32 with alpha 255 wherever there is colour, every hue shows fully.
function rgb24ToRgba32(volume) {
  const n = volume.nVox3D;
  const rgb = volume.img;
  const rgba = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    const r = rgb[3 * i];
    const g = rgb[3 * i + 1];
    const b = rgb[3 * i + 2];
    rgba.set([r, g, b, r || g || b ? 255 : 0], 4 * i);
  }
  volume.img = rgba;
  volume.hdr.datatypeCode = NIFTI_DT_RGBA32;
  volume.hdr.numBitsPerVoxel = 32;
}

// Colour FA on disk is float32 X×Y×Z×3 (RGB 0..1): NiiVue turns such a 3-frame volume into an
// RGBA texture with loadImgV1() (the DTI V1 path: |value|·255, voxels whose R+G+B < 0.1 become
// transparent). Float32 files with intent VECTOR/RGB_VECTOR are converted so by NiiVue while
// loading; RGB24 files are made RGBA32 here; RGBA32 files are shown as they are.
function prepareColorFa(volume, mask, labels) {
  const code = volume.hdr.datatypeCode;
  if (code === NIFTI_DT_FLOAT32 && volume.nFrame4D === 3) {
    applyMask(volume, mask);
    if (!volume.loadImgV1()) throw new ViewerError(labels.colorFaFormat);
  } else if (code === NIFTI_DT_RGB24 && volume.img.length === volume.nVox3D * 3) {
    rgb24ToRgba32(volume);
    applyMask(volume, mask);
  } else if (code === NIFTI_DT_RGBA32) {
    applyMask(volume, mask);
  } else {
    throw new ViewerError(labels.colorFaFormat);
  }
  volume.colorbarVisible = false;
}

function initialThreshold(div) {
  const value = Number(div.dataset.faThreshold);
  return Number.isFinite(value) && value >= 0 && value <= 0.9 ? value : DEFAULT_FA_THRESHOLD;
}

// FA of each voxel as stored (NiiVue keeps the raw values and the header's scaling).
function scaledValues(volume) {
  const slope = volume.hdr.scl_slope || 1;
  const inter = volume.hdr.scl_inter || 0;
  const values = new Float32Array(volume.nVox3D);
  for (let i = 0; i < values.length; i++) values[i] = volume.img[i] * slope + inter;
  return values;
}

// Hides FA and colour FA below `threshold`: FA through NiiVue's transparent-below-minimum colour map,
// colour FA (RGBA, on the FA's grid) by clearing the alpha of its voxels whose FA is lower.
// Returns the number of voxels still shown.
function applyThreshold(fa, faValues, colorFa, colorAlpha, threshold) {
  fa.colormapType = ZERO_TO_MAX_TRANSPARENT_BELOW_MIN;
  fa.cal_min = threshold;
  fa.cal_max = 1;
  let shown = 0;
  const sameGrid = colorAlpha.length === faValues.length;
  for (let i = 0; i < faValues.length; i++) {
    const visible = faValues[i] >= threshold && faValues[i] > 0;
    if (visible) shown++;
    if (sameGrid) colorFa.img[4 * i + 3] = visible ? colorAlpha[i] : 0;
  }
  return shown;
}

const VIEWS = [
  ["axial", "AXIAL"],
  ["coronal", "CORONAL"],
  ["sagittal", "SAGITTAL"],
  ["multiplanar", "MULTIPLANAR"],
];

function buildControls(div, labels, uid) {
  const radioName = `dwi-overlay-${uid}`;
  const faRadio = el("input", { type: "radio", name: radioName, value: "fa", checked: true, disabled: true });
  const colorRadio = el("input", { type: "radio", name: radioName, value: "color-fa", disabled: true });
  const opacity = el("input", { type: "range", min: "0", max: "1", step: "0.05", value: "0.6", disabled: true, "data-control": "opacity" });
  const threshold = el("input", {
    type: "range",
    min: "0",
    max: "0.9",
    step: "0.05",
    value: String(initialThreshold(div)),
    disabled: true,
    "data-control": "fa-threshold",
  });
  const thresholdValue = el("output", { "data-field": "fa-threshold" });
  const viewButtons = VIEWS.map(([key, sliceType]) => {
    const button = el("button", { type: "button", text: labels[key], disabled: true, "data-view": key, "aria-pressed": "false" });
    button.dataset.sliceType = sliceType;
    return button;
  });
  const toolbar = el("div", { class: "dwi-viewer__toolbar", role: "toolbar" }, [
    el("fieldset", { class: "dwi-viewer__overlay" }, [
      el("legend", { text: labels.overlay }),
      el("label", {}, [faRadio, labels.fa]),
      " ",
      el("label", {}, [colorRadio, labels.colorFa]),
    ]),
    el("label", { class: "dwi-viewer__opacity" }, [labels.opacity, opacity]),
    el("label", { class: "dwi-viewer__threshold" }, [labels.threshold, threshold, thresholdValue]),
    el("span", { class: "dwi-viewer__views", role: "group", "aria-label": labels.view }, viewButtons.flatMap((b) => [b, " "])),
  ]);
  toolbar.style.display = "flex";
  toolbar.style.flexWrap = "wrap";
  toolbar.style.gap = "0.5rem 1.5rem";
  toolbar.style.alignItems = "center";
  toolbar.style.marginBottom = "0.5rem";
  faRadio.dataset.control = "overlay-fa";
  colorRadio.dataset.control = "overlay-color-fa";

  const canvas = el("canvas", { "aria-label": `${labels.b0} / ${labels.fa}` });
  const stage = el("div", { class: "dwi-viewer__stage" }, [canvas]);
  stage.style.position = "relative";
  stage.style.width = "100%";
  stage.style.height = div.dataset.height || "480px";
  // FA's colour scale, drawn here rather than by NiiVue so that its numbers are the page's (0,5 in
  // Spanish); the part below the threshold is greyed.
  const hidden = el("span", { class: "dwi-viewer__colorbar-hidden" });
  const colorbar = el("div", { class: "dwi-viewer__colorbar", "data-field": "colorbar", "aria-hidden": "true" }, [
    el("span", { class: "dwi-viewer__colorbar-ramp" }, [hidden]),
    el("span", { class: "dwi-viewer__colorbar-ticks" }),
  ]);
  const readout = el("p", { class: "dwi-viewer__readout", "aria-live": "polite", "data-field": "fa-value" });
  // The regions carried from the scan they were drawn on (data-regions): shown over the FA, with a legend.
  const regionsToggle = el("input", { type: "checkbox", checked: true, disabled: true, "data-control": "regions" });
  const regionsLabel = el("label", { class: "dwi-viewer__regions" }, [regionsToggle, labels.regions]);
  regionsLabel.hidden = !div.dataset.regions;
  toolbar.append(regionsLabel);
  const legend = el("ul", { class: "dwi-viewer__legend", "data-field": "regions-legend" });
  legend.hidden = true;
  const message = el("p", { class: "dwi-viewer__message", role: "status", text: labels.loading });
  return {
    toolbar, faRadio, colorRadio, opacity, threshold, thresholdValue, viewButtons, canvas, stage, colorbar, hidden,
    readout, message, regionsToggle, legend,
  };
}

const REGIONS_OPACITY = 0.7;

// Loads the carried label image (data-regions, on the FA's grid) as a label overlay, one colour per
// label value, and lists the regions with their colours (data-regions-legend: {value: name}).
// Returns the volume, or null when the page gives none.
async function addRegions(nv, NVImage, div, ui, labels) {
  if (!div.dataset.regions) return null;
  let names = {};
  try {
    names = JSON.parse(div.dataset.regionsLegend || "{}");
  } catch {
    /* values without names */
  }
  const volume = await fetchVolume(NVImage, div.dataset.regions, labels.regionsImage, labels, { opacity: REGIONS_OPACITY });
  const present = new Set();
  for (let i = 0; i < volume.nVox3D; i++) if (volume.img[i] > 0) present.add(volume.img[i]);
  const values = [...present].sort((a, b) => a - b);
  const colours = values.map((_, i) => REGION_COLOURS[i % REGION_COLOURS.length]);
  volume.setColormapLabel({
    R: [0, ...colours.map((c) => c[0])],
    G: [0, ...colours.map((c) => c[1])],
    B: [0, ...colours.map((c) => c[2])],
    A: [0, ...values.map(() => 255)],
    I: [0, ...values],
    labels: ["", ...values.map((value) => names[value] || String(value))],
  });
  volume.colorbarVisible = false;
  nv.addVolume(volume);
  ui.legend.replaceChildren(
    ...values.map((value, i) => {
      const swatch = el("span", { class: "dwi-viewer__swatch", "aria-hidden": "true" });
      swatch.style.display = "inline-block";
      swatch.style.width = "0.9em";
      swatch.style.height = "0.9em";
      swatch.style.marginRight = "0.3em";
      swatch.style.background = `rgb(${colours[i].join(",")})`;
      return el("li", { "data-label": String(value) }, [swatch, names[value] || String(value)]);
    }),
  );
  ui.legend.hidden = values.length === 0;
  div.dataset.regionsShown = "true";
  div.dataset.regionLabels = values.join(" ");
  return volume;
}

function showError(div, ui, error) {
  const text = error instanceof ViewerError ? error.message : `${error?.message || error}`;
  div.dataset.state = "error";
  ui.message.textContent = text;
  ui.message.setAttribute("role", "alert");
  ui.message.classList.add("dwi-viewer__message--error");
  ui.message.style.color = "#a40000";
  ui.message.style.fontWeight = "bold";
  ui.message.hidden = false;
  ui.toolbar.hidden = true;
  ui.stage.hidden = true;
  ui.colorbar.hidden = true;
  ui.readout.hidden = true;
}

async function initViewer(div, uid) {
  let labels = LABELS;
  if (div.dataset.labels) {
    try {
      labels = { ...LABELS, ...JSON.parse(div.dataset.labels) };
    } catch {
      /* keep the English strings */
    }
  }
  div.dataset.state = "loading";
  div.replaceChildren();
  const ui = buildControls(div, labels, uid);
  div.append(ui.toolbar, ui.stage, ui.colorbar, ui.legend, ui.readout, ui.message);

  if (!hasWebGL2()) {
    showError(div, ui, new ViewerError(labels.noWebgl));
    return null;
  }
  let lib;
  try {
    lib = await loadNiivue();
  } catch (error) {
    console.warn("dwi-viewer:", error);
    showError(div, ui, new ViewerError(labels.libraryError));
    return null;
  }
  const { Niivue, NVImage, SLICE_TYPE } = lib;
  try {
    const nv = new Niivue({
      backColor: [0, 0, 0, 1],
      crosshairColor: [0.2, 0.8, 1, 0.9],
      crosshairWidth: 0.3, // in voxels: a thin line that leaves the voxel under it visible
      isColorbar: false, // FA's scale is ui.colorbar
      dragAndDropEnabled: false,
      loadingText: "",
      logLevel: "warn",
      show3Dcrosshair: false,
      // Radiologists read images with the patient's left on the screen's right;
      // data-convention="neurological" on the div gives the other way.
      isRadiologicalConvention: div.dataset.convention !== "neurological",
    });
    await nv.attachToCanvas(ui.canvas);

    const { b0: b0Url, fa: faUrl, colorFa: colorFaUrl, mask: maskUrl } = div.dataset;
    const [b0, fa, colorFa, mask] = await Promise.all([
      fetchVolume(NVImage, b0Url, labels.b0, labels, { colormap: "gray" }),
      fetchVolume(NVImage, faUrl, labels.fa, labels, { colormap: "warm", opacity: 0.6, cal_min: 0, cal_max: 1 }),
      fetchVolume(NVImage, colorFaUrl, labels.colorFa, labels, { opacity: 0 }),
      maskUrl ? fetchVolume(NVImage, maskUrl, labels.mask, labels) : Promise.resolve(null),
    ]);
    b0.colorbarVisible = false;
    fa.cal_min = 0;
    fa.cal_max = 1;
    applyMask(fa, mask);
    prepareColorFa(colorFa, mask, labels);

    nv.addVolume(b0); // volume 0: background
    nv.addVolume(fa); // volume 1
    nv.addVolume(colorFa); // volume 2, hidden until chosen
    const regions = await addRegions(nv, NVImage, div, ui, labels); // volume 3, when regions were carried
    nv.setSliceType(SLICE_TYPE.MULTIPLANAR);

    const faValues = scaledValues(fa);
    const colorAlpha = sameGrid(colorFa, fa) ? colorFa.img.filter((_, i) => i % 4 === 3) : new Uint8Array(0);
    // Numbers in the page's language (0.25 in English, 0,25 in Spanish).
    const language = document.documentElement.lang || undefined;
    const formatThreshold = new Intl.NumberFormat(language, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    const formatFa = new Intl.NumberFormat(language, { minimumFractionDigits: 3, maximumFractionDigits: 3, useGrouping: false });
    const thresholdOverlay = () => {
      const value = Number(ui.threshold.value);
      const shown = applyThreshold(fa, faValues, colorFa, colorAlpha, value);
      ui.thresholdValue.textContent = formatThreshold.format(value);
      ui.hidden.style.width = `${value * 100}%`;
      div.dataset.faThreshold = String(value);
      div.dataset.shownVoxels = String(shown);
    };
    const formatTick = new Intl.NumberFormat(language, { maximumFractionDigits: 2 });
    ui.colorbar.lastChild.replaceChildren(...[0, 0.25, 0.5, 0.75, 1].map((tick) => el("span", { text: formatTick.format(tick) })));
    thresholdOverlay();

    const state = { overlay: "fa" };
    const applyOverlay = () => {
      const value = Number(ui.opacity.value);
      ui.colorbar.hidden = state.overlay !== "fa";
      nv.setOpacity(1, state.overlay === "fa" ? value : 0);
      nv.setOpacity(2, state.overlay === "color-fa" ? value : 0);
      div.dataset.overlay = state.overlay;
    };
    for (const radio of [ui.faRadio, ui.colorRadio]) {
      radio.addEventListener("change", () => {
        if (!radio.checked) return;
        state.overlay = radio.value;
        applyOverlay();
      });
    }
    ui.opacity.addEventListener("input", applyOverlay);
    ui.threshold.addEventListener("input", () => {
      thresholdOverlay();
      nv.updateGLVolume();
    });
    const pressView = (button) => {
      for (const b of ui.viewButtons) b.setAttribute("aria-pressed", String(b === button));
      nv.setSliceType(SLICE_TYPE[button.dataset.sliceType]);
      div.dataset.view = button.dataset.view;
    };
    for (const button of ui.viewButtons) button.addEventListener("click", () => pressView(button));

    nv.onLocationChange = (location) => {
      const entry = location.values?.find((v) => v.id === fa.id);
      const vox = entry?.vox || location.vox;
      const value = entry?.value;
      const inside = vox && [0, 1, 2].every((i) => vox[i] >= 0 && vox[i] < fa.hdr.dims[i + 1]);
      if (!inside || value === undefined || Number.isNaN(value)) {
        ui.readout.textContent = `${labels.fa}: ${labels.outside}`;
        delete ui.readout.dataset.value;
        return;
      }
      ui.readout.textContent = fill(labels.readout, { value: formatFa.format(value), x: vox[0], y: vox[1], z: vox[2] });
      ui.readout.dataset.value = String(value);
    };

    applyOverlay();
    pressView(ui.viewButtons[3]);
    nv.createOnLocationChange(); // first readout, at the centre
    for (const control of [ui.faRadio, ui.colorRadio, ui.opacity, ui.threshold, ...ui.viewButtons]) control.disabled = false;
    if (regions) {
      ui.regionsToggle.disabled = false;
      ui.regionsToggle.addEventListener("change", () => {
        nv.setOpacity(3, ui.regionsToggle.checked ? REGIONS_OPACITY : 0);
        div.dataset.regionsShown = String(ui.regionsToggle.checked);
      });
    }
    ui.message.hidden = true;
    div.dwiViewer = nv;
    window.dwiViewers.push(nv);
    div.dataset.state = "ready";
    return nv;
  } catch (error) {
    if (!(error instanceof ViewerError)) console.warn("dwi-viewer:", error);
    showError(div, ui, error);
    return null;
  }
}

export function initAll(root = document) {
  const divs = [...root.querySelectorAll("div.dwi-viewer:not([data-state])")];
  return Promise.all(divs.map((div, i) => initViewer(div, `${Date.now().toString(36)}-${i}`)));
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", () => initAll());
} else {
  initAll();
}
