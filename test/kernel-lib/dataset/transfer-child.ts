// Child process for the kill -9 tests: pushes or pulls a workspace, printing "progress N" lines so
// the parent knows when to kill it mid-transfer.
import { DatasetRepository } from '../../../kernel-lib/src/dataset/repository';

async function main() {
  const [direction, root] = process.argv.slice(2);
  const repo = await DatasetRepository.open({ root });
  const onProgress = (done: number, total: number) => process.stdout.write(`progress ${done} ${total}\n`);
  const summary = direction === 'push' ? await repo.push({ jobs: 4, onProgress }) : await repo.pull({ jobs: 4, onProgress });
  process.stdout.write(`done ${summary.transferred}\n`);
}

main().catch(error => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
