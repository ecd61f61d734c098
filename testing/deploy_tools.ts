/**
 * The tools the deployment tests run, installed by
 * `deploy/local/validators.sh` (nginx, deploy-check, kubernetes-validate, the
 * Strimzi and Prometheus Operator CRDs), and a way to run them.
 *
 * @module
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;

/** Where `deploy/local/validators.sh` put each tool. */
export interface DeployTools {
  /** Debian's nginx binary. */
  nginx: string;
  /** compose-go and kustomize in one binary (`deploy/local/validators/deploy_check`). */
  deployCheck: string;
  /** The Python of the venv with kubernetes-validate. */
  python: string;
  /** Folder of CRD folders: `strimzi/`, `prometheus-operator/`. */
  crds: string;
}

/** What a finished command printed, and its exit code. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command` with `args` (and `stdin`, if given) to the end. */
export async function run(
  command: string,
  args: string[],
  { stdin, env, cwd = ROOT }: { stdin?: string; env?: Record<string, string>; cwd?: string } = {},
): Promise<CommandResult> {
  const child = new Deno.Command(command, {
    args,
    cwd,
    env,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

let installing: Promise<DeployTools> | undefined;

/** Installs the tools once per test process (instant when `deno task test` did already). */
export function deployTools(): Promise<DeployTools> {
  installing ??= (async () => {
    const script = `${ROOT}deploy/local/validators.sh`;
    const install = await run("bash", [script, "install"]);
    assert.equal(
      install.code,
      0,
      `validators.sh install failed:\n${install.stdout}${install.stderr}`,
    );
    const env = await run("bash", [script, "env"]);
    const value = (name: string) => env.stdout.match(new RegExp(`^${name}=(.*)$`, "m"))?.[1] ?? "";
    return {
      nginx: value("NGINX"),
      deployCheck: value("DEPLOY_CHECK"),
      python: value("PYTHON"),
      crds: value("CRDS"),
    };
  })();
  return installing;
}
