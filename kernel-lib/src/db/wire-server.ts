// Serves one PGlite instance over the PostgreSQL wire protocol on loopback, so that the kernel, the
// service, the watcher and workers all talk `pg` to the embedded database exactly as to a server.
//
// PGlite is a single backend. Clients' messages are therefore grouped into whole protocol batches
// (up to Sync or a simple Query) and each batch runs alone; while a client holds an open
// transaction, only that client's batches run. A batch that interleaved with another client's
// Parse/Bind would silently run the wrong statement, which is why we do not forward message by
// message. Session state (SET, named prepared statements) is shared by all clients: avoid both.
import * as net from 'net';
import type { PGlite } from '@electric-sql/pglite';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;

interface IBatch {
  client: number;
  bytes: Uint8Array;
  onData: (data: Uint8Array) => void;
  done: (error?: unknown) => void;
}

/** Runs protocol batches one at a time, keeping a client's transaction exclusive. */
class BatchScheduler {
  private readonly queue: IBatch[] = [];
  private running = false;
  private owner: number | null = null;

  constructor(private readonly db: PGlite) {}

  run(client: number, bytes: Uint8Array, onData: (data: Uint8Array) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ client, bytes, onData, done: e => (e === undefined ? resolve() : reject(e)) });
      void this.pump();
    });
  }

  /** A client went away: drop its queued batches and roll back a transaction it left open. */
  async release(client: number): Promise<void> {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (this.queue[i].client === client) {
        this.queue.splice(i, 1)[0].done(new Error('client disconnected'));
      }
    }
    if (this.owner === client) {
      // Not under runExclusive: exec takes PGlite's own lock, and nesting the two deadlocks. No
      // other batch can run meanwhile, since only the owner's would.
      await this.db.exec('ROLLBACK');
      this.owner = null;
      void this.pump();
    }
  }

  get pending(): number {
    return this.queue.length;
  }

  private async pump(): Promise<void> {
    if (this.running) {
      return;
    }
    this.running = true;
    try {
      for (;;) {
        const index = this.owner === null ? 0 : this.queue.findIndex(b => b.client === this.owner);
        if (index < 0 || this.queue.length === 0) {
          break;
        }
        const batch = this.queue.splice(index, 1)[0];
        try {
          await this.db.runExclusive(() =>
            this.db.execProtocolRawStream(batch.bytes, { onRawData: batch.onData })
          );
          batch.done();
        } catch (error) {
          batch.done(error);
        }
        this.owner = this.db.isInTransaction() ? batch.client : null;
      }
    } finally {
      this.running = false;
    }
  }
}

/** One client connection: frames messages and hands complete batches to the scheduler. */
class ClientConnection {
  private buffer = Buffer.alloc(0);
  private batch: Buffer[] = [];
  private started = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly id: number,
    private readonly socket: net.Socket,
    private readonly scheduler: BatchScheduler,
    private readonly onClose: () => void
  ) {
    socket.setNoDelay(true);
    socket.on('data', chunk => this.receive(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      void this.scheduler.release(this.id);
      this.onClose();
    });
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (!this.started) {
        if (this.buffer.length < 8) {
          return;
        }
        const length = this.buffer.readInt32BE(0);
        if (this.buffer.length < length) {
          return;
        }
        const code = this.buffer.readInt32BE(4);
        const message = this.buffer.subarray(0, length);
        this.buffer = this.buffer.subarray(length);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          this.socket.write('N'); // no encryption on loopback
        } else if (code === CANCEL_REQUEST) {
          this.socket.end(); // a single backend cannot cancel one client's query
          return;
        } else if (code === PROTOCOL_3) {
          this.started = true;
          this.submit([message]);
        } else {
          this.socket.destroy();
          return;
        }
        continue;
      }
      if (this.buffer.length < 5) {
        return;
      }
      const length = 1 + this.buffer.readInt32BE(1);
      if (this.buffer.length < length) {
        return;
      }
      const type = String.fromCharCode(this.buffer[0]);
      const message = this.buffer.subarray(0, length);
      this.buffer = this.buffer.subarray(length);
      if (type === 'X') {
        this.socket.end();
        return;
      }
      this.batch.push(message);
      // Sync ends an extended-protocol batch, Query is a batch of its own, Flush asks for output now.
      if (type === 'S' || type === 'Q' || type === 'H') {
        const whole = this.batch;
        this.batch = [];
        this.submit(whole);
      }
    }
  }

  private submit(messages: Buffer[]): void {
    const bytes = new Uint8Array(Buffer.concat(messages));
    this.chain = this.chain.then(() =>
      this.scheduler
        .run(this.id, bytes, data => {
          if (data.length > 0 && this.socket.writable) {
            this.socket.write(Buffer.from(data));
          }
        })
        .catch(() => void this.socket.destroy())
    );
  }
}

export interface IWireServer {
  port: number;
  /** Open client connections right now. */
  readonly connections: number;
  /** Time of the last connect or disconnect (ms since epoch), for idle shutdown. */
  readonly lastActivity: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (port 0 = any free port) and serves `db` to any number of pg clients. */
export async function serveWire(db: PGlite, port = 0): Promise<IWireServer> {
  const scheduler = new BatchScheduler(db);
  const sockets = new Set<net.Socket>();
  let nextId = 1;
  let lastActivity = Date.now();
  const server = net.createServer(socket => {
    sockets.add(socket);
    lastActivity = Date.now();
    new ClientConnection(nextId++, socket, scheduler, () => {
      sockets.delete(socket);
      lastActivity = Date.now();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    get connections() {
      return sockets.size;
    },
    get lastActivity() {
      return scheduler.pending > 0 ? Date.now() : lastActivity;
    },
    close: () =>
      new Promise<void>(resolve => {
        for (const s of sockets) {
          s.destroy();
        }
        server.close(() => resolve());
      })
  };
}
