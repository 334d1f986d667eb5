// Validates .glb files with the Khronos glTF-Validator; exits non-zero on any error.
const validator = require('gltf-validator');
const fs = require('fs');

async function main(files) {
  let failed = 0;
  for (const file of files) {
    const report = await validator.validateBytes(new Uint8Array(fs.readFileSync(file)), { maxIssues: 20 });
    const i = report.issues;
    console.log(`${file}: ${i.numErrors} errors, ${i.numWarnings} warnings, ${i.numInfos} infos`);
    for (const m of i.messages) console.log(`  ${m.severity === 0 ? 'error' : 'note'} ${m.code} ${m.pointer || ''}: ${m.message}`);
    if (i.numErrors > 0) failed++;
  }
  process.exit(failed ? 1 : 0);
}

main(process.argv.slice(2)).catch((e) => { console.error(e); process.exit(2); });
