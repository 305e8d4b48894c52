// Where the embedded database's owner records itself, shared by the owner and its clients.
import * as fs from 'fs';
import * as path from 'path';

export interface IEmbeddedInfo {
  pid: number;
  port: number;
  startedAt: string;
  /** Identity of the owner script that runs (size and mtime), so a rebuilt library replaces it. */
  build?: string;
}

/** The build identity of an owner script: changes whenever the library is rebuilt. */
export function buildOf(script: string): string {
  const stat = fs.statSync(script);
  return `${stat.size}-${Math.round(stat.mtimeMs)}`;
}

export const lockPath = (home: string) => path.join(home, 'db.lock');
export const infoPath = (home: string) => path.join(home, 'db.json');
export const logPath = (home: string) => path.join(home, 'db.log');

export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) {
    return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
