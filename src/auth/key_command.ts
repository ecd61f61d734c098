/**
 * `deno task key --id ID --scopes "SCOPE ..." [--venues V,...]`: mints an API
 * key, prints it once, and prints the entry to add to the API keys file
 * (`auth.api_keys_file`). The gateway never stores the key itself.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ApiKeyEntry, hashApiKey, mintApiKey } from "./api_keys.ts";

const USAGE = `Usage: deno task key --id ID --scopes "SCOPE ..." [--venues VENUE,...]

  --id       the key's principal id, e.g. tablet-12 (logs and limits name it)
  --scopes   space- or comma-separated: publish:<EventType>|publish:*, subscribe:<topic>|subscribe:*,
             group:<name>|group:<prefix>*, admin
  --venues   comma-separated venue ids the key is pinned to; leave out for organisation-wide`;

/** The key and its keys-file entry for the command-line `args`, or what is wrong with them. */
export function keyCommand(args: string[]): { ok: true; key: string; entry: string } | {
  ok: false;
  message: string;
} {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        id: { type: "string" },
        scopes: { type: "string" },
        venues: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
    }));
  } catch (error) {
    return { ok: false, message: `${(error as Error).message}\n\n${USAGE}` };
  }
  if (values.help || values.id === undefined || values.scopes === undefined) {
    return { ok: false, message: USAGE };
  }
  const key = mintApiKey();
  const list = (text: string) => text.split(/[\s,]+/).filter(Boolean);
  const entry = ApiKeyEntry.safeParse({
    id: values.id,
    sha256: hashApiKey(key),
    scopes: list(values.scopes),
    ...(values.venues === undefined ? {} : { venues: list(values.venues) }),
  });
  if (!entry.success) {
    const issue = entry.error.issues[0];
    return { ok: false, message: `--${issue.path.join(".")} ${issue.message}\n\n${USAGE}` };
  }
  return { ok: true, key, entry: `- ${JSON.stringify(entry.data)}` };
}

if (import.meta.main) {
  const result = keyCommand(Deno.args);
  if (!result.ok) {
    console.error(result.message);
    Deno.exit(2);
  }
  console.log(`API key (shown once; store it now, it cannot be recovered):
${result.key}

Add this line to the API keys file (auth.api_keys_file, TASTESYNC_AUTH_API_KEYS_FILE):
${result.entry}`);
}
