// Routes of the changelab service and the OpenAPI 3 document built from them. A route declares its
// path, query parameters and responses once; the router parses and checks the query (400 with the
// parameter's name on bad input), checks the project against the database, and answers errors
// through the status table in `errors.ts`. Other areas add their routes with `router.add(...)`.
import type { IncomingMessage, ServerResponse } from 'http';
import { ChangelabError, NotFoundError } from '../errors';
import type { Workspace } from '../workspace';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD';

/** A query parameter: its type decides parsing and the OpenAPI schema. */
export interface IQueryParam {
  type: 'string' | 'number' | 'integer' | 'boolean' | 'date' | 'bbox';
  description: string;
  required?: boolean;
  /** For integers and numbers. */
  minimum?: number;
  maximum?: number;
}

export type QueryValue = string | number | boolean | Date | [number, number, number, number] | undefined;

export interface IRequestContext {
  workspace: Workspace;
  request: IncomingMessage;
  response: ServerResponse;
  /** Path parameters, as written in the URL (decoded). */
  params: Record<string, string>;
  /** Query parameters, parsed by type; absent ones are undefined. */
  query: Record<string, QueryValue>;
  /** The project the request acts on, checked to exist; the workspace's own when not named. */
  project: string;
}

/** What a handler returns: JSON (status 200 unless said), or nothing when it wrote the response itself. */
export type RouteResult = { status?: number; json: unknown; headers?: Record<string, string> } | void;

export interface IResponseSpec {
  description: string;
  /** JSON Schema of the body (as OpenAPI 3.1 takes it), or a content map for non-JSON bodies. */
  schema?: object;
  content?: Record<string, object>;
}

export interface IRoute {
  method: HttpMethod;
  /** OpenAPI-style path: `/api/catalog/images/{id}`. */
  path: string;
  operationId: string;
  summary: string;
  tags: string[];
  /** Whether the route takes `?project=` (checked to exist before the handler runs). Default true. */
  project?: boolean;
  query?: Record<string, IQueryParam>;
  /** Extra request headers the route reads, for the document. */
  headers?: Record<string, { description: string }>;
  responses: Record<string, IResponseSpec>;
  handler: (context: IRequestContext) => Promise<RouteResult>;
}

/** A bad request: a malformed query parameter or path value. Answered with 400. */
export class BadRequestError extends ChangelabError {}

/** A byte range that cannot be served. Answered with 416. */
export class RangeNotSatisfiableError extends ChangelabError {}

interface ICompiledRoute extends IRoute {
  pattern: RegExp;
  names: string[];
}

function compile(route: IRoute): ICompiledRoute {
  const names: string[] = [];
  const source = route.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_m, name: string) => {
    names.push(name);
    // A parameter named `key` spans slashes (object keys); others are one path segment.
    return name === 'key' ? '(.+)' : '([^/]+)';
  });
  return { ...route, pattern: new RegExp(`^${source}$`), names };
}

function parseValue(name: string, raw: string, spec: IQueryParam): QueryValue {
  const bad = (what: string): never => {
    throw new BadRequestError(`query parameter "${name}" must be ${what}, not ${JSON.stringify(raw)}`, { parameter: name, value: raw });
  };
  switch (spec.type) {
    case 'string':
      return raw;
    case 'boolean':
      if (['true', '1', ''].includes(raw)) {
        return true;
      }
      if (['false', '0'].includes(raw)) {
        return false;
      }
      return bad('true or false');
    case 'number':
    case 'integer': {
      const n = raw.trim() === '' ? NaN : Number(raw);
      if (!Number.isFinite(n) || (spec.type === 'integer' && !Number.isInteger(n))) {
        return bad(spec.type === 'integer' ? 'an integer' : 'a number');
      }
      if ((spec.minimum !== undefined && n < spec.minimum) || (spec.maximum !== undefined && n > spec.maximum)) {
        return bad(`from ${spec.minimum ?? '-inf'} to ${spec.maximum ?? 'inf'}`);
      }
      return n;
    }
    case 'date': {
      const t = new Date(raw);
      return Number.isNaN(t.getTime()) || raw.trim() === '' ? bad('an ISO 8601 date or time') : t;
    }
    case 'bbox': {
      const parts = raw.split(',').map(p => (p.trim() === '' ? NaN : Number(p)));
      if (parts.length !== 4 || parts.some(p => !Number.isFinite(p))) {
        return bad('minLon,minLat,maxLon,maxLat in degrees');
      }
      const [w, s, e, n] = parts;
      if (s > n || s < -90 || n > 90 || w < -180 || w > 180 || e < -180 || e > 180) {
        return bad('minLon,minLat,maxLon,maxLat with -180 <= lon <= 180, -90 <= minLat <= maxLat <= 90');
      }
      return parts as [number, number, number, number];
    }
  }
}

const PROJECT_PARAM: IQueryParam = {
  type: 'string',
  description: "Project to act on; the service's configured project when absent. An unknown project is a 404."
};

function schemaOf(spec: IQueryParam): object {
  switch (spec.type) {
    case 'date':
      return { type: 'string', format: 'date-time' };
    case 'bbox':
      return { type: 'string', pattern: '^[^,]+,[^,]+,[^,]+,[^,]+$', example: '126.9,37.5,127.1,37.6' };
    case 'integer':
    case 'number':
      return { type: spec.type, ...(spec.minimum !== undefined ? { minimum: spec.minimum } : {}), ...(spec.maximum !== undefined ? { maximum: spec.maximum } : {}) };
    default:
      return { type: spec.type };
  }
}

export const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['type', 'message'],
      properties: { type: { type: 'string' }, message: { type: 'string' } }
    }
  }
};

export class Router {
  private readonly routes: ICompiledRoute[] = [];

  constructor(private readonly info: { title: string; version: string; description: string }) {}

  /** Adds a route; later areas (validation runs, datasets, training runs) call this with their own. */
  add(route: IRoute): this {
    if (this.routes.some(r => r.method === route.method && r.path === route.path)) {
      throw new Error(`route ${route.method} ${route.path} is already registered`);
    }
    this.routes.push(compile(route));
    return this;
  }

  get list(): readonly IRoute[] {
    return this.routes;
  }

  /** The route for a method and path, with its path parameters; `methods` lists what the path allows. */
  match(method: string, pathname: string): { route?: ICompiledRoute; params: Record<string, string>; methods: string[] } {
    const methods: string[] = [];
    for (const route of this.routes) {
      const m = route.pattern.exec(pathname);
      if (!m) {
        continue;
      }
      methods.push(route.method);
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) {
        const params: Record<string, string> = {};
        route.names.forEach((name, i) => {
          try {
            params[name] = decodeURIComponent(m[i + 1]);
          } catch {
            throw new BadRequestError(`path parameter "${name}" is not valid percent-encoding`, { parameter: name });
          }
        });
        return { route, params, methods };
      }
    }
    return { params: {}, methods };
  }

  /** Parses the query of `url` for `route`: unknown parameters are refused so typos do not pass silently. */
  parseQuery(route: IRoute, url: URL): Record<string, QueryValue> {
    const specs: Record<string, IQueryParam> = { ...(route.query ?? {}) };
    if (route.project !== false) {
      specs.project = PROJECT_PARAM;
    }
    const query: Record<string, QueryValue> = {};
    for (const name of new Set(url.searchParams.keys())) {
      if (name === 'token') {
        // Jupyter's own credential, forwarded by jupyter-server-proxy; it was checked there.
        continue;
      }
      const spec = specs[name];
      if (!spec) {
        const known = Object.keys(specs);
        throw new BadRequestError(
          `unknown query parameter "${name}"${known.length ? `; ${route.path} takes ${known.join(', ')}` : `; ${route.path} takes none`}`,
          { parameter: name }
        );
      }
      const values = url.searchParams.getAll(name);
      if (values.length > 1) {
        throw new BadRequestError(`query parameter "${name}" is given ${values.length} times`, { parameter: name });
      }
      query[name] = parseValue(name, values[0], spec);
    }
    for (const [name, spec] of Object.entries(specs)) {
      if (spec.required && query[name] === undefined) {
        throw new BadRequestError(`query parameter "${name}" is required: ${spec.description}`, { parameter: name });
      }
    }
    return query;
  }

  /** The OpenAPI 3.1 document of every registered route. */
  openapi(): object {
    const paths: Record<string, Record<string, object>> = {};
    for (const route of this.routes) {
      const parameters: object[] = route.names.map(name => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
      const query = { ...(route.query ?? {}), ...(route.project !== false ? { project: PROJECT_PARAM } : {}) };
      for (const [name, spec] of Object.entries(query)) {
        parameters.push({ name, in: 'query', required: !!spec.required, description: spec.description, schema: schemaOf(spec) });
      }
      for (const [name, spec] of Object.entries(route.headers ?? {})) {
        parameters.push({ name, in: 'header', required: false, description: spec.description, schema: { type: 'string' } });
      }
      const responses: Record<string, object> = {};
      for (const [status, spec] of Object.entries(route.responses)) {
        responses[status] = {
          description: spec.description,
          ...(spec.content ? { content: spec.content } : spec.schema ? { content: { 'application/json': { schema: spec.schema } } } : {})
        };
      }
      responses['400'] ??= { description: 'A malformed parameter', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
      if (route.project !== false) {
        responses['404'] ??= { description: 'Unknown project (or resource)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
      }
      paths[route.path] ??= {};
      paths[route.path][route.method.toLowerCase()] = {
        operationId: route.operationId,
        summary: route.summary,
        tags: route.tags,
        parameters,
        responses
      };
    }
    return {
      openapi: '3.1.0',
      info: this.info,
      paths,
      components: { schemas: { Error: ERROR_SCHEMA } }
    };
  }
}

/** Checks that a project exists; nothing a client sends is trusted as a project id until it does. */
export async function checkProject(workspace: Workspace, project: string): Promise<string> {
  if (project.length === 0 || project.length > 200) {
    throw new BadRequestError(`project must be 1 to 200 characters`, { project });
  }
  const rows = await workspace.db.query<{ id: string }>('SELECT id FROM projects WHERE id = $1', [project]);
  if (rows.length === 0) {
    throw new NotFoundError(`no project ${JSON.stringify(project)}`, { project });
  }
  return project;
}
