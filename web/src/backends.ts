/**
 * Choosing where the model runs in the page: WebGL (the GPU), else WASM (the CPU with SIMD, and
 * threads when the page is cross-origin isolated, as web/serve.ts makes it), else TF.js's plain
 * JavaScript CPU backend. Each is tried for real (a small computation checked against its known
 * result) before it is used, and the ones skipped say why; `?backend=wasm` (or webgl, cpu) in the
 * page's address uses that one alone.
 *
 * WebGL is used only on a real GPU with float32 render targets. With half-float textures alone
 * (some phones) the network's activations would lose precision; a software rasteriser (SwiftShader,
 * llvmpipe: what headless browsers and machines without a GPU driver get) emulates the GPU on the
 * CPU, where WASM runs the same network many times faster (InceptionV3 on one digit, headless
 * Chromium on 2 cores: about 4 s per prediction on SwiftShader against a fraction of a second on
 * WASM). WASM is exact enough and fast enough for one 84×84 image.
 */
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { tf } from "./tf";

export type BackendName = "webgl" | "wasm" | "cpu";
const BACKEND_ORDER: readonly BackendName[] = ["webgl", "wasm", "cpu"];
const NAMES: Record<BackendName, string> = { webgl: "WebGL", wasm: "WASM", cpu: "CPU" };

export interface ChosenBackend {
  name: BackendName;
  /** For people: "WebGL (SwiftShader)", "WASM (SIMD, 2 threads)", "CPU (plain JavaScript)". */
  label: string;
  /** The backends tried before it, and why each was not used. */
  skipped: string[];
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The GPU WebGL reports (e.g. "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) ...))"), when it says. */
function webglRenderer(): string | undefined {
  try {
    const canvas = document.createElement("canvas");
    const gl = canvas.getContext("webgl2") ?? canvas.getContext("webgl");
    if (!gl) return undefined;
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    return String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
  } catch {
    return undefined;
  }
}

/** Renderers that draw on the CPU. */
const SOFTWARE_RENDERER = /SwiftShader|llvmpipe|softpipe|Software/i;

/** The GPU's name in a few words: ANGLE's "ANGLE (vendor, device, API)" → "device". */
export function gpuName(renderer: string): string {
  const angle = /^ANGLE \((.*)\)$/.exec(renderer.trim());
  const parts = angle ? angle[1].split(", ") : [renderer.trim()];
  const software = /SwiftShader|llvmpipe|softpipe/i.exec(renderer);
  if (software) return software[0];
  const device = (parts.length >= 2 ? parts[1] : parts[0]).replace(/\s*\(0x[0-9a-f]+\)/gi, "").trim();
  return device.length > 48 ? `${device.slice(0, 47)}…` : device;
}

function label(name: BackendName): string {
  if (name === "webgl") {
    const renderer = webglRenderer();
    return `WebGL${renderer ? ` (${gpuName(renderer)})` : ""}`;
  }
  if (name === "wasm") {
    const simd = tf.env().getBool("WASM_HAS_SIMD_SUPPORT");
    const threads = tf.env().getBool("WASM_HAS_MULTITHREAD_SUPPORT");
    const parts = [simd ? "SIMD" : "no SIMD", threads ? "threads" : "one thread"];
    return `WASM (${parts.join(", ")})`;
  }
  return "CPU (plain JavaScript, slow)";
}

/** Why `name` cannot be used here, or undefined when it works (set up, and 1 + 2 computed right). */
async function tryBackend(name: BackendName): Promise<string | undefined> {
  try {
    if (name === "webgl") {
      const renderer = webglRenderer();
      if (renderer === undefined) return "no WebGL in this browser";
      if (SOFTWARE_RENDERER.test(renderer))
        return `it renders on the CPU here (${gpuName(renderer)}), where WASM is faster`;
    }
    if (!(await tf.setBackend(name))) return "it did not start";
    await tf.ready();
    if (name === "webgl" && !tf.env().getBool("WEBGL_RENDER_FLOAT32_ENABLED"))
      return "no float32 textures (half precision only)";
    const t = tf.tensor1d([1, 2, 3.25]);
    const sum = tf.add(t, tf.scalar(1));
    const values = Array.from(await sum.data());
    tf.dispose([t, sum]);
    if (values.join() !== "2,3,4.25") return `it computed ${values.join(", ")} instead of 2, 3, 4.25`;
    return undefined;
  } catch (e) {
    return errorText(e);
  }
}

/**
 * Picks the first backend of `order` that works. `wasmPath` is where the WASM binaries are served
 * (web/build.ts copies them next to the page).
 */
export async function chooseBackend(
  order: readonly BackendName[] = BACKEND_ORDER,
  wasmPath = "wasm/",
): Promise<ChosenBackend> {
  setWasmPaths(new URL(wasmPath, document.baseURI).href);
  const skipped: string[] = [];
  for (const name of order) {
    const why = await tryBackend(name);
    if (why === undefined) return { name, label: label(name), skipped };
    skipped.push(`${NAMES[name]}: ${why}`);
  }
  throw new Error(`No TensorFlow.js backend works in this browser (${skipped.join("; ")}).`);
}

/** The backends to try: the one `?backend=` names first (when it is one of ours), then the usual order. */
export function backendOrder(search: string): BackendName[] {
  const asked = new URLSearchParams(search).get("backend");
  const order = [...BACKEND_ORDER];
  if (asked && (order as string[]).includes(asked)) return [asked as BackendName];
  return order;
}
