// A minimal JSON client of this API over HTTP, for the end-to-end tests and the benchmarks.
export type ApiCall = (method: string, url: string, body?: unknown, token?: string) => Promise<{ status: number; body: any }>;

export function apiClient(base: string): ApiCall {
  return async (method, url, body, token) => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
}
