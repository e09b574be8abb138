// bench/compare/duckdb.mjs - run latency.sql on one NDJSON file in DuckDB (@duckdb/node-api)
// and print its counts, one "name value" a line, flagged_windows first.
//   NODE_PATH=build/bench-tools/node_modules node bench/compare/duckdb.mjs FILE
// Threads: DuckDB's default (one per core).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

if (process.argv.length !== 3) {
	console.error('usage: duckdb.mjs FILE');
	process.exit(2);
}
// ES modules ignore NODE_PATH: resolve the package from it by hand
const require = createRequire(join(resolve(process.env.NODE_PATH ?? '.'), 'x.js'));
const { DuckDBInstance } = await import(require.resolve('@duckdb/node-api'));
const here = dirname(fileURLToPath(import.meta.url));
const sql = readFileSync(join(here, 'latency.sql'), 'utf8');
const file = resolve(process.argv[2]).replaceAll("'", "''");

const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
await con.run(`SET VARIABLE tl_input = '${file}'`);
const rows = (await con.runAndReadAll(sql)).getRowObjectsJson();
for (const [k, v] of Object.entries(rows[0]))
	console.log(`${k} ${v}`);
