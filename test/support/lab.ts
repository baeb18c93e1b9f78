/**
 * JupyterLab for the tests: started on 127.0.0.1 with a known token and throw-away config, data,
 * runtime, settings and workspace folders, and stopped again (kernels included) whatever happens.
 * Either the project's `jupyter lab` directly, set up for the browser test, or the user's command,
 * `npm run lab`, with only what a test needs added (port, token, no browser).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { ROOT, tmpDir } from "./helpers";

export const JUPYTER = path.join(ROOT, ".venv", "bin", "jupyter");
export const KERNEL_NAME = "keras-transfer-ts";

/** How the server ended: its exit code, or the signal the test had to send. */
export interface LabExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when it did not stop on the API's shutdown request and was killed. */
  forced: boolean;
}

export interface Lab {
  /** http://127.0.0.1:<port> */
  base: string;
  token: string;
  /** The folder JupyterLab serves (the project's notebooks/). */
  rootDir: string;
  /** The server's process group (its pid). */
  pid: number;
  /** GET/POST/DELETE on the server's REST API with the token. */
  api(method: string, route: string): Promise<Response>;
  /** Shuts the server down through its API (signals if it does not listen) and removes its folders. */
  stop(): Promise<LabExit>;
}

export interface LabOptions {
  /**
   * "jupyter" (default): the project's `jupyter lab` on `rootDir`, set up for the browser test.
   * "npm run lab": the user's command, which chooses the folder and the kernel itself.
   */
  command?: "jupyter" | "npm run lab";
  /** The folder served: given to jupyter, or expected from npm run lab. */
  rootDir: string;
  /** Where the server's output goes. */
  logFile: string;
  /** Milliseconds to wait for /api/status to answer. */
  startTimeout?: number;
  /** More environment for the server and the kernels it starts. */
  env?: NodeJS.ProcessEnv;
}

/** A free TCP port on 127.0.0.1 (the server is told not to try others, so a race shows as an error). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === "object" ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
}

/** User settings for a quiet, deterministic Lab: no autosave, every cell in the DOM, no news. */
function writeSettings(settingsDir: string): void {
  // Never write the notebooks back on a timer.
  writeJson(path.join(settingsDir, "@jupyterlab", "docmanager-extension", "plugin.jupyterlab-settings"), {
    autosave: false,
  });
  // Attach every cell to the DOM (the default lazily renders cells out of view), so the checks
  // and a full-height screenshot see the whole notebook (without the blank space after the last cell).
  writeJson(path.join(settingsDir, "@jupyterlab", "notebook-extension", "tracker.jupyterlab-settings"), {
    windowingMode: "none",
    scrollPastEnd: false,
    // Each cell's start and end in its metadata (the test reports them).
    recordTiming: true,
  });
  // No "fetch news?" toast over the page, no update check.
  writeJson(path.join(settingsDir, "@jupyterlab", "apputils-extension", "notification.jupyterlab-settings"), {
    fetchNews: "false",
    checkForUpdates: false,
  });
}

/** Processes whose command line mentions `needle` (the kernels started with our runtime folder). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(needle)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/**
 * Starts `jupyter lab` on `rootDir`. Throws a clear error when the project's JupyterLab is
 * missing, when the server exits early, or when it does not answer in time.
 */
export async function startLab(options: LabOptions): Promise<Lab> {
  if (!fs.existsSync(JUPYTER) || !fs.existsSync(path.join(ROOT, ".venv", "bin", "jupyter-lab"))) {
    throw new Error(
      `JupyterLab is not installed in the project's virtualenv (${JUPYTER}, jupyter-lab): run "npm run setup" first.`,
    );
  }
  const kernelJson = path.join(ROOT, ".venv", "share", "jupyter", "kernels", KERNEL_NAME, "kernel.json");
  if (!fs.existsSync(kernelJson))
    throw new Error(`The project's kernel is not registered (${kernelJson} is missing): run "npm run setup" first.`);

  const home = tmpDir("lab");
  const dirs = {
    config: path.join(home, "config"),
    data: path.join(home, "data"),
    runtime: path.join(home, "runtime"),
    settings: path.join(home, "config", "lab", "user-settings"),
    workspaces: path.join(home, "config", "lab", "workspaces"),
    checkpoints: path.join(home, "checkpoints"),
  };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  writeSettings(dirs.settings);

  const command = options.command ?? "jupyter";
  const port = await freePort();
  const token = randomBytes(24).toString("hex");
  const base = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...options.env,
    JUPYTER_CONFIG_DIR: dirs.config,
    JUPYTER_DATA_DIR: dirs.data,
    JUPYTER_RUNTIME_DIR: dirs.runtime,
    // Only the project's kernels and extensions, whatever the developer has elsewhere.
    JUPYTER_PATH: path.join(ROOT, ".venv", "share", "jupyter"),
    JUPYTERLAB_SETTINGS_DIR: dirs.settings,
    JUPYTERLAB_WORKSPACES_DIR: dirs.workspaces,
    PYTHONUNBUFFERED: "1",
  };
  // What any test server needs: 127.0.0.1 on a port of our choosing, our token, no browser.
  const serverArgs = [
    "--no-browser",
    "--ip=127.0.0.1",
    `--port=${port}`,
    "--ServerApp.port_retries=0",
    `--IdentityProvider.token=${token}`,
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
  ];
  const args = [
    "lab",
    ...serverArgs,
    `--ServerApp.root_dir=${options.rootDir}`,
    `--MappingKernelManager.default_kernel_name=${KERNEL_NAME}`,
    // The test works on dot-named copies of the notebooks.
    "--ContentsManager.allow_hidden=True",
    // Checkpoints (should anything create one) go to the temporary folder, not notebooks/.
    `--FileCheckpoints.checkpoint_dir=${dirs.checkpoints}`,
    // window.jupyterapp, to read the notebook's session from the page.
    "--LabApp.expose_app_in_browser=True",
  ];
  // Containers and CI machines often run as root, which Jupyter refuses without this.
  if (process.getuid?.() === 0) args.push("--allow-root");
  if (command === "npm run lab") {
    // The command finds the project's kernel itself (and passes --allow-root itself as root).
    delete env.JUPYTER_PATH;
  }
  fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
  const log = fs.openSync(options.logFile, "w");
  const child =
    command === "npm run lab"
      ? spawn("npm", ["run", "lab", "--", ...serverArgs], {
          cwd: ROOT,
          env,
          detached: true,
          stdio: ["ignore", log, log],
        })
      : spawn(JUPYTER, args, { cwd: options.rootDir, env, detached: true, stdio: ["ignore", log, log] });
  fs.closeSync(log);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${command}`);

  const api = (method: string, route: string) =>
    fetch(`${base}${route}`, {
      method,
      headers: { Authorization: `token ${token}` },
      signal: AbortSignal.timeout(10_000),
    });

  let stopping: Promise<LabExit> | undefined;
  const stop = async (): Promise<LabExit> => {
    let forced = false;
    // Kernels run in sessions of their own: ask the server to shut them down with itself first.
    if (child.exitCode === null && child.signalCode === null) {
      try {
        await api("POST", "/api/shutdown");
      } catch {
        // not answering: signals below
      }
      if (!(await waitForExit(child, 15_000))) {
        forced = true;
        try {
          process.kill(-pid, "SIGTERM");
        } catch {
          // already gone
        }
        if (!(await waitForExit(child, 5_000))) {
          try {
            process.kill(-pid, "SIGKILL");
          } catch {
            // already gone
          }
          await waitForExit(child, 5_000);
        }
      }
    }
    // Any kernel left behind is found by its connection file in our runtime folder.
    for (const leftover of processesMentioning(dirs.runtime)) {
      try {
        process.kill(leftover, "SIGKILL");
      } catch {
        // gone
      }
    }
    for (let i = 0; i < 20 && processesMentioning(dirs.runtime).some(alive); i++) await sleep(100);
    fs.rmSync(home, { recursive: true, force: true });
    return { code: child.exitCode, signal: child.signalCode, forced };
  };
  // Also when the test process itself is torn down.
  const onExit = () => {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // gone
    }
    for (const leftover of processesMentioning(dirs.runtime)) {
      try {
        process.kill(leftover, "SIGKILL");
      } catch {
        // gone
      }
    }
  };
  process.once("exit", onExit);

  const lab: Lab = {
    base,
    token,
    rootDir: options.rootDir,
    pid,
    api,
    stop: () => {
      process.removeListener("exit", onExit);
      stopping ??= stop();
      return stopping;
    },
  };

  const deadline = Date.now() + (options.startTimeout ?? 90_000);
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `${command} exited (${child.exitCode ?? child.signalCode}) before answering:\n${tail(options.logFile)}`,
        );
      }
      try {
        const r = await api("GET", "/api/status");
        if (r.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`${command} did not answer on ${base}/api/status in time:\n${tail(options.logFile)}`);
      await sleep(300);
    }
  } catch (e) {
    await lab.stop();
    throw e;
  }
  return lab;
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
