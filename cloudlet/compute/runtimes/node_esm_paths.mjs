// ES module resolution hook of cloudlet's Node.js runtime: a bare specifier (`import { S3Client }
// from "@aws-sdk/client-s3"`) that Node's own resolution does not find (the node_modules folders of
// the importing module's ancestors) is looked for in the NODE_PATH folders, in their order, as
// AWS's nodejs18.x and later runtimes do (Node itself reads NODE_PATH for require() only). Folders
// named node_modules are searched (the layers' /opt/nodejs/node{N}/node_modules and
// /opt/nodejs/node_modules, the runtime's SDK in /var/runtime/node_modules); /var/task is not (its
// node_modules is found by Node's resolution). node_bootstrap.js registers it (module.register) for
// ES module handlers when a NODE_PATH folder is not among those Node searches anyway: without
// layers, the runtime's SDK is linked where Node finds it (workspace.py), and no hook is needed.
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

let folders = [];

export function initialize(data) {
  folders = ((data && data.paths) || []).filter((p) => p && path.basename(p) === "node_modules");
}

function packageName(specifier) {
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(specifier) || specifier.startsWith(".") || specifier.startsWith("/")
      || specifier.startsWith("#")) return null; // a URL (node:, file:, data:), a path or a package import
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    const name = err && err.code === "ERR_MODULE_NOT_FOUND" ? packageName(specifier) : null;
    if (name === null) throw err;
    for (const folder of folders) {
      if (!existsSync(path.join(folder, name))) continue;
      // Resolved as from a file beside the folder: Node's first candidate is <folder>/<name>, with the
      // package's "exports" and conditions applied as for any import.
      const parentURL = pathToFileURL(path.join(path.dirname(folder), "[NODE_PATH].mjs")).href;
      try {
        return await nextResolve(specifier, { ...context, parentURL });
      } catch (e) {
        if (!e || e.code !== "ERR_MODULE_NOT_FOUND") throw e;
      }
    }
    throw err;
  }
}
