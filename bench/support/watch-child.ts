// The watcher as its own process, for the kill -9 benchmark: connects with the CHANGELAB_* it is
// given, watches a prefix and prints one JSON line per event (with the wall-clock time) on stdout.
//   node --import tsx bench/support/watch-child.ts <prefix> <project> <reconcileIntervalMs> [events JSON]
import { connect } from '../../kernel-lib/src/index';

async function main() {
  const [prefix, project, interval, events] = process.argv.slice(2);
  const w = await connect();
  const watcher = w.catalog.watch({
    prefix,
    project,
    reconcileIntervalMs: Number(interval),
    events: events ? JSON.parse(events) : undefined,
    onEvent: e => process.stdout.write(JSON.stringify({ key: e.key, outcome: e.outcome, via: e.via, t: Date.now() }) + '\n'),
    onError: e => process.stderr.write(`watch error: ${e.message}\n`)
  });
  await watcher.ready;
  process.stdout.write(JSON.stringify({ ready: true, t: Date.now() }) + '\n');
  process.once('SIGTERM', () => void watcher.stop().then(() => w.close()).then(() => process.exit(0)));
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
