/**
 * The draw-a-digit page's plain parts, in Node (the page itself runs in Chromium in
 * test/web_demo.test.ts): the pad's strokes (undo, clear, what is drawn), the ranking of classes,
 * the canvas made MNIST-style, the backend's name and order, the list of models and the server
 * (only its two folders, only GET and HEAD, the isolation headers WASM threads need).
 */
import { after, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { luminance, mnistStyle } from "../src/images/mnist_style";
import { findModels, servePage } from "../web/serve";
import { backendOrder, gpuName } from "../web/src/backends";
import { trainingText } from "../web/src/catalog";
import { canvasDigit, topClasses } from "../web/src/digit";
import { drawStrokes, Pad, PAPER, STROKE_WIDTH, type DrawingContext } from "../web/src/drawing";
import { tmpDir } from "./support/helpers";

const dir = tmpDir("web-parts");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test("the pad keeps strokes in pad units, clamped to the pad; undo forgets the last, clear all, and every change counts", () => {
  const pad = new Pad();
  pad.begin({ x: 0.2, y: 0.3 }, "pen");
  pad.extend([
    { x: 0.4, y: 0.5 },
    { x: 1.3, y: -0.2 },
  ]);
  pad.end();
  pad.begin({ x: 0.5, y: 0.5 }, "touch");
  pad.end();
  assert.deepEqual(pad.strokes, [
    {
      points: [
        { x: 0.2, y: 0.3 },
        { x: 0.4, y: 0.5 },
        { x: 1, y: 0 },
      ],
      pointerType: "pen",
    },
    { points: [{ x: 0.5, y: 0.5 }], pointerType: "touch" },
  ]);
  assert.equal(pad.version, 3);
  pad.extend([{ x: 0.9, y: 0.9 }]);
  assert.equal(pad.version, 3, "no stroke is being drawn: nothing added");
  assert.equal(pad.undo(), true);
  assert.equal(pad.strokes.length, 1);
  pad.clear();
  assert.equal(pad.strokes.length, 0);
  assert.equal(pad.undo(), false);
  assert.equal(pad.version, 5);
});

test("drawStrokes paints the paper, then each stroke as one round path of the pen's width, a single point as a dot", () => {
  const calls: string[] = [];
  const ctx = new Proxy({} as Record<string, unknown>, {
    get: (target, key: string) =>
      key in target
        ? target[key]
        : (...args: number[]) => calls.push(`${key}(${args.map((a) => +a.toFixed(2)).join(",")})`),
    set: (target, key: string, value) => {
      target[key] = value;
      calls.push(`${key}=${value}`);
      return true;
    },
  }) as unknown as DrawingContext;
  drawStrokes(
    ctx,
    [
      {
        points: [
          { x: 0.1, y: 0.2 },
          { x: 0.5, y: 0.5 },
        ],
        pointerType: "pen",
      },
      { points: [{ x: 0.8, y: 0.8 }], pointerType: "mouse" },
    ],
    200,
    100,
  );
  const w = STROKE_WIDTH * 100;
  assert.deepEqual(calls, [
    `fillStyle=${PAPER}`,
    "fillRect(0,0,200,100)",
    "strokeStyle=#111111",
    "fillStyle=#111111",
    `lineWidth=${w}`,
    "lineCap=round",
    "lineJoin=round",
    "beginPath()",
    "moveTo(20,20)",
    "lineTo(100,50)",
    "stroke()",
    "beginPath()",
    `arc(160,80,${w / 2},0,${+(2 * Math.PI).toFixed(2)})`,
    "fill()",
  ]);
});

test("topClasses ranks by probability, the lower class first on a tie; canvasDigit is mnistStyle of the canvas, undefined when blank", () => {
  const labels = Array.from({ length: 10 }, (_, i) => String(i));
  assert.deepEqual(topClasses([0.1, 0.3, 0.05, 0.3, 0.25], labels, 3), [
    { label: "1", probability: 0.3 },
    { label: "3", probability: 0.3 },
    { label: "4", probability: 0.25 },
  ]);
  // A white 40×40 canvas with a dark bar.
  const rgba = new Uint8ClampedArray(40 * 40 * 4).fill(255);
  for (let y = 8; y < 32; y++) for (let x = 18; x < 22; x++) rgba.set([20, 20, 20, 255], 4 * (y * 40 + x));
  const digit = canvasDigit(rgba, 40, 40)!;
  assert.deepEqual(digit, mnistStyle(luminance(rgba, 40, 40, 4), { name: "The drawing" }));
  assert.ok(digit.inverted);
  assert.equal(canvasDigit(new Uint8ClampedArray(40 * 40 * 4).fill(255), 40, 40), undefined);
});

test("the backend's name in a few words, and the order the page tries them in", () => {
  assert.equal(
    gpuName("ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)"),
    "SwiftShader",
  );
  assert.equal(
    gpuName("ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 (0x00002503) Direct3D11 vs_5_0 ps_5_0, D3D11)"),
    "NVIDIA GeForce RTX 3060 Direct3D11 vs_5_0 ps_5_0",
  );
  assert.equal(gpuName("Apple GPU"), "Apple GPU");
  assert.deepEqual(backendOrder(""), ["webgl", "wasm", "cpu"]);
  assert.deepEqual(backendOrder("?backend=wasm"), ["wasm"]);
  assert.deepEqual(backendOrder("?backend=tpu"), ["webgl", "wasm", "cpu"]);
});

test("findModels lists each folder with a model.json, by base and quantization, with its metadata and size; a broken one under its name", () => {
  const models = path.join(dir, "models");
  const write = (id: string, json: unknown, shard = 10) => {
    fs.mkdirSync(path.join(models, id), { recursive: true });
    fs.writeFileSync(path.join(models, id, "model.json"), typeof json === "string" ? json : JSON.stringify(json));
    fs.writeFileSync(path.join(models, id, "group1-shard1of1.bin"), Buffer.alloc(shard));
  };
  const meta = (title: string, quantize: unknown) => ({
    userDefinedMetadata: { digits: { title, quantize, runs: [], weights: "random" } },
  });
  write("x-u8", meta("Xception", "uint8"));
  write("i-f16", meta("InceptionV3", "float16"));
  write("i-f32", meta("InceptionV3", false));
  write("broken", "{ not json");
  fs.mkdirSync(path.join(models, "empty"));
  fs.mkdirSync(path.join(models, ".i-f32.123.tfjs.tmp"));
  fs.writeFileSync(path.join(models, ".i-f32.123.tfjs.tmp", "model.json"), "{}");
  const found = findModels(models);
  assert.deepEqual(
    found.map((m) => [m.id, m.title]),
    [
      ["broken", "broken"],
      ["i-f32", "InceptionV3 · float32"],
      ["i-f16", "InceptionV3 · float16"],
      ["x-u8", "Xception · uint8"],
    ],
  );
  assert.equal(found[1].url, "models/i-f32/model.json");
  assert.equal(found[1].bytes, fs.statSync(path.join(models, "i-f32", "model.json")).size + 10);
  assert.equal(found[0].metadata, undefined);
  assert.deepEqual(findModels(path.join(dir, "nowhere")), []);
  assert.equal(trainingText(undefined), "No description: exported without the project's metadata.");
  assert.equal(
    trainingText({
      title: "InceptionV3",
      weights: "imagenet",
      runs: [{ run: 1, epochs: 5, trainImages: 8000, freezeDepth: 64, testAccuracy: 0.9876 }],
    } as never),
    "InceptionV3, base weights: imagenet · 5 epochs on 8,000 digits · test accuracy 98.8 %.",
  );
});

test("the server serves the page and the models and nothing else: no path out of its folders, GET and HEAD only, cross-origin isolated", async () => {
  const page = path.join(dir, "page");
  fs.mkdirSync(page, { recursive: true });
  fs.writeFileSync(path.join(page, "index.html"), "<!doctype html><title>t</title>");
  fs.writeFileSync(path.join(dir, "secret.txt"), "secret");
  const server = await servePage({ pageDir: page, modelsDir: path.join(dir, "models") });
  try {
    const get = (route: string, init?: RequestInit) => fetch(new URL(route, server.url), init);
    const home = await get("/");
    assert.equal(home.status, 200);
    assert.equal(home.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(home.headers.get("cross-origin-opener-policy"), "same-origin");
    assert.equal(home.headers.get("cross-origin-embedder-policy"), "require-corp");
    const index = (await (await get("/models/index.json")).json()) as { models: Array<{ id: string }> };
    assert.ok(index.models.some((m) => m.id === "i-f16"));
    assert.equal(
      (await get("/models/i-f16/group1-shard1of1.bin")).headers.get("content-type"),
      "application/octet-stream",
    );
    for (const route of [
      "/../secret.txt",
      "/models/../secret.txt",
      "/models/..%2F..%2Fsecret.txt",
      "/%2e%2e/secret.txt",
      "/nothing.js",
    ]) {
      const r = await get(route);
      assert.equal(r.status, 404, route);
      assert.doesNotMatch(await r.text(), /secret$/);
    }
    assert.equal((await get("/", { method: "POST" })).status, 405);
    assert.equal((await get("/", { method: "HEAD" })).status, 200);
  } finally {
    await server.close();
  }
});
