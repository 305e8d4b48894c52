// The changelab HTTP service (`changelab serve`): live catalog data and image bytes for the
// JupyterLab panels and inline maps, described by an OpenAPI document at /openapi.json. It binds
// loopback only; JupyterLab starts it through jupyter-server-proxy, so Jupyter's own
// authentication guards it. Areas add routes with `createRouter()` + `router.add(...)`.
import * as http from 'http';
import type { AddressInfo } from 'net';
import { ConfigError } from '../errors';
import { connect, type Workspace } from '../workspace';
import type { ILoadConfigOptions } from '../config';
import { registerCatalogRoutes } from './catalog-routes';
import { registerDatasetRoutes } from './dataset-routes';
import { registerInferRoutes } from './infer-routes';
import { registerRunsRoutes } from './runs-routes';
import { registerValidationRoutes } from './validation-routes';
import { errorBody, statusOf } from './errors';
import { BadRequestError, checkProject, Router } from './router';

export { Router, BadRequestError, RangeNotSatisfiableError, checkProject, type IRoute, type IRequestContext, type IQueryParam, type RouteResult } from './router';
export { ERROR_STATUS } from './errors';
export { parseRange, PRESIGN_SECONDS } from './catalog-routes';

const VERSION = '0.1.0';

/** The service's routes: health, the catalog, and whatever `extend` adds. */
export function createRouter(extend: ((router: Router) => void)[] = []): Router {
  const router = new Router({
    title: 'changelab service',
    version: VERSION,
    description:
      'Live catalog data and image bytes for the changelab JupyterLab panels and notebook maps. ' +
      'Every route that takes `project` checks that the project exists; an unknown one is a 404.'
  });
  router.add({
    method: 'GET',
    path: '/api/health',
    operationId: 'health',
    summary: 'Whether the service can reach its database and object store',
    tags: ['service'],
    project: false,
    responses: {
      '200': {
        description: 'Healthy',
        schema: { type: 'object', properties: { status: { const: 'ok' }, project: { type: 'string' }, database: { type: 'string' }, objects: { type: 'string' } } }
      },
      '503': { description: 'The database or object store cannot be reached' }
    },
    handler: async ({ workspace }) => {
      await workspace.db.query('SELECT 1');
      return { json: { status: 'ok', version: VERSION, project: workspace.project, database: workspace.db.kind, objects: workspace.objects.kind } };
    }
  });
  router.add({
    method: 'GET',
    path: '/api/projects',
    operationId: 'projects',
    summary: 'The projects of this workspace',
    tags: ['service'],
    project: false,
    responses: { '200': { description: 'Projects', schema: { type: 'object', properties: { projects: { type: 'array' } } } } },
    handler: async ({ workspace }) => {
      const rows = await workspace.db.query<{ id: string; name: string }>('SELECT id, name FROM projects ORDER BY id');
      return { json: { projects: rows, default: workspace.project } };
    }
  });
  registerCatalogRoutes(router);
  registerValidationRoutes(router);
  registerDatasetRoutes(router);
  registerRunsRoutes(router);
  registerInferRoutes(router);
  for (const add of extend) {
    add(router);
  }
  return router;
}

function sendJson(response: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers
  });
  response.end(text);
}

/** The request handler of the service over one workspace. */
export function createHandler(workspace: Workspace, router: Router, log: (line: string) => void = () => undefined) {
  const document = router.openapi();
  return async (request: http.IncomingMessage, response: http.ServerResponse): Promise<void> => {
    const method = request.method ?? 'GET';
    try {
      const url = new URL(request.url ?? '/', 'http://localhost');
      if (url.pathname === '/openapi.json' && (method === 'GET' || method === 'HEAD')) {
        sendJson(response, 200, document);
        return;
      }
      const { route, params, methods } = router.match(method, url.pathname);
      if (!route) {
        if (methods.length) {
          sendJson(response, 405, { error: { type: 'MethodNotAllowed', message: `${url.pathname} allows ${methods.join(', ')}` } }, { Allow: methods.join(', ') });
        } else {
          sendJson(response, 404, { error: { type: 'NotFound', message: `no route ${url.pathname}; see /openapi.json` } });
        }
        return;
      }
      const query = router.parseQuery(route, url);
      const project = route.project === false ? workspace.project : await checkProject(workspace, (query.project as string | undefined) ?? workspace.project);
      const result = await route.handler({ workspace, request, response, params, query, project });
      if (result) {
        sendJson(response, result.status ?? 200, result.json, result.headers);
      }
    } catch (error) {
      const status = statusOf(error);
      if (status >= 500) {
        log(`${method} ${request.url}: ${(error as Error)?.stack ?? String(error)}`);
      }
      if (response.headersSent) {
        response.destroy(error as Error);
      } else {
        sendJson(response, status, errorBody(error));
      }
    }
  };
}

export interface IServeOptions {
  /** Default 0 (any free port). */
  port?: number;
  /** Loopback only: 127.0.0.1 (default), ::1 or localhost. */
  host?: string;
  /** An open workspace; otherwise one is connected from the configuration (and closed with the service). */
  workspace?: Workspace;
  config?: ILoadConfigOptions;
  /** Routes other areas add. */
  extend?: ((router: Router) => void)[];
  log?: (line: string) => void;
}

export interface IService {
  /** http://host:port, without a trailing slash. */
  readonly url: string;
  readonly port: number;
  readonly router: Router;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Starts the service; `await service.close()` stops it. */
export async function serve(options: IServeOptions = {}): Promise<IService> {
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host)) {
    throw new ConfigError(
      `the changelab service binds loopback only (127.0.0.1, ::1, localhost), not ${JSON.stringify(host)}: reach it through jupyter-server-proxy, which adds Jupyter's authentication`,
      { host }
    );
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new BadRequestError(`port must be an integer from 0 to 65535, not ${port}`, { port });
  }
  const workspace = options.workspace ?? (await connect(options.config));
  const owned = !options.workspace;
  const router = createRouter(options.extend);
  const server = http.createServer(createHandler(workspace, router, options.log ?? (line => console.error(line))));
  server.keepAliveTimeout = 5_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (error) {
    if (owned) {
      await workspace.close();
    }
    throw error;
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}`,
    port: address.port,
    router,
    close: async () => {
      await new Promise<void>(resolve => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (owned) {
        await workspace.close();
      }
    }
  };
}

