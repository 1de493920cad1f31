// Regenerates src/lib/api-types.ts from the backend's OpenAPI schema.
// The schema is dumped by the backend itself, so no running server is needed:
//   backend/.venv/bin/python backend/scripts/dump_openapi.py <path>
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const repoRoot = resolve(import.meta.dirname, "..", "..");
const python = join(repoRoot, "backend", ".venv", "bin", "python");
const dumper = join(repoRoot, "backend", "scripts", "dump_openapi.py");
if (!existsSync(dumper)) {
  console.error(`gen:api: ${dumper} not found; the backend's schema dumper is needed.`);
  process.exit(1);
}
const schemaPath = join(mkdtempSync(join(tmpdir(), "ownvoice-openapi-")), "openapi.json");
execFileSync(existsSync(python) ? python : "python3", [dumper, schemaPath], {
  cwd: repoRoot,
  stdio: "inherit",
});
execFileSync(
  join(import.meta.dirname, "..", "node_modules", ".bin", "openapi-typescript"),
  [schemaPath, "-o", join(import.meta.dirname, "..", "src", "lib", "api-types.ts")],
  { stdio: "inherit" },
);
