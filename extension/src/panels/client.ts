// The panels' client of the changelab service (validation runs, dataset versions, training runs),
// at the same `<base_url>/changelab/` address the map uses. Unlike the map's client it also POSTs
// (dataset checkout), with Jupyter's XSRF token, since the proxy sits behind Jupyter's handlers.
import { defaultServiceUrl, ServiceError } from '../map/service';

export { ServiceError };

/** A refusal that carries the service's whole answer (for example the 409 of a checkout). */
export class ServiceRefusal extends ServiceError {
  constructor(
    message: string,
    status: number,
    readonly body: Record<string, unknown>
  ) {
    super(message, status);
  }
}

type Query = Record<string, string | number | boolean | undefined>;

function xsrfToken(): string | undefined {
  const match = /(?:^|;\s*)_xsrf=([^;]*)/.exec(typeof document !== 'undefined' ? document.cookie : '');
  return match ? decodeURIComponent(match[1]) : undefined;
}

export class PanelService {
  readonly url: string;

  constructor(
    url: string = defaultServiceUrl(),
    readonly project?: string
  ) {
    this.url = url.endsWith('/') ? url : `${url}/`;
  }

  private address(path: string, query: Query = {}): string {
    const u = new URL(path, this.url);
    for (const [k, v] of Object.entries({ ...query, project: this.project })) {
      if (v !== undefined) {
        u.searchParams.set(k, String(v));
      }
    }
    return u.toString();
  }

  private async request<T>(method: 'GET' | 'POST', path: string, query?: Query, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (method === 'POST') {
      headers['Content-Type'] = 'application/json';
      const token = xsrfToken();
      if (token) {
        headers['X-XSRFToken'] = token;
      }
    }
    let response: Response;
    try {
      response = await fetch(this.address(path, query), {
        method,
        headers,
        credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body)
      });
    } catch (error) {
      throw new ServiceError(`the changelab service at ${this.url} cannot be reached: ${(error as Error).message}`, 0);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ServiceError(
        response.ok
          ? `the changelab service answered ${path} with something that is not JSON`
          : `the changelab service is not available (HTTP ${response.status}); is it running? (changelab serve, started by JupyterLab)`,
        response.status
      );
    }
    if (!response.ok) {
      const answer = (parsed ?? {}) as Record<string, unknown>;
      const message = (answer.error as { message?: string } | undefined)?.message ?? `HTTP ${response.status}`;
      throw new ServiceRefusal(message, response.status, answer);
    }
    return parsed as T;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, query);
  }

  post<T>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.request<T>('POST', path, query, body);
  }
}
