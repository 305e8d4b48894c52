#!/usr/bin/env node
// The `changelab` command line: the same library calls as the notebooks, for terminals and jobs.
import { connect } from './workspace';
import { loadConfig } from './config';
import { ensureEmbeddedDatabase, stopEmbeddedDatabase } from './db/embedded';
import { ChangelabError } from './errors';

const USAGE = `usage: changelab <command>

commands:
  status          show the workspace: database, object storage, job queue, settings
  migrate         apply pending database migrations
  db start|stop   start or stop the embedded database owner (embedded mode only)
`;

async function main(argv: string[]): Promise<number> {
  const [command, sub] = argv;
  switch (command) {
    case 'status':
    case 'migrate': {
      const workspace = await connect(); // connecting applies migrations
      try {
        const status = await workspace.status();
        console.log(JSON.stringify(status, null, 2));
      } finally {
        await workspace.close();
      }
      return 0;
    }
    case 'db': {
      const config = loadConfig();
      if (config.databaseUrl) {
        console.error('a server database is configured (databaseUrl); nothing embedded to start or stop');
        return 2;
      }
      if (sub === 'start') {
        console.log(await ensureEmbeddedDatabase(config.homeDir));
        return 0;
      }
      if (sub === 'stop') {
        console.log((await stopEmbeddedDatabase(config.homeDir)) ? 'stopped' : 'not running');
        return 0;
      }
      console.error(USAGE);
      return 2;
    }
    case undefined:
    case 'help':
    case '--help':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`unknown command ${command}\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  code => process.exit(code),
  error => {
    console.error(error instanceof ChangelabError ? `error: ${error.message}` : error);
    process.exit(1);
  }
);
