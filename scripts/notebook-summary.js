// Prints what an executed notebook produced: cells run, outputs by MIME type, errors.
// Exits 1 when a cell has an error output. Usage: node notebook-summary.js executed.ipynb
const fs = require('fs');
const nb = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const code = nb.cells.filter(c => c.cell_type === 'code');
const mimes = {};
const errors = [];
for (const [i, c] of code.entries()) {
  for (const o of c.outputs || []) {
    if (o.output_type === 'error') {
      errors.push(`cell ${i + 1}: ${o.ename}: ${o.evalue}`);
    }
    for (const m of Object.keys(o.data || {})) {
      mimes[m] = (mimes[m] || 0) + 1;
    }
    if (o.output_type === 'stream') {
      mimes[`stream:${o.name}`] = (mimes[`stream:${o.name}`] || 0) + 1;
    }
  }
}
// tslab sends no execute_input, so nbclient records no execution_count; its timing metadata shows a cell ran.
const ran = code.filter(c => c.execution_count != null || (c.metadata.execution || {})['iopub.status.idle']).length;
console.log(`${process.argv[2]}: ${ran}/${code.length} code cells ran, ${errors.length} errors`);
for (const [m, n] of Object.entries(mimes).sort()) console.log(`  ${m}: ${n}`);
for (const e of errors) console.log(`  ${e}`);
process.exit(errors.length || ran !== code.length ? 1 : 0);
