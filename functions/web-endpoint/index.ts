/**
 * A web endpoint: reached at `/fn/web-endpoint/…`, or at any path an `http`
 * trigger gives it (`/http/notes/:id`). Keeps nothing: it shows how the
 * request arrives (method, path, query, params, body) and how the response is
 * shaped (`{ statusCode, headers, body }`).
 */
interface HttpEvent {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
  params?: Record<string, string>;
}

const json = (statusCode: number, body: unknown) => ({ statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

export const handler = async (event: HttpEvent) => {
  if (event.method === 'GET') {
    const who = typeof event.query['name'] === 'string' ? event.query['name'] : 'stranger';
    return {
      statusCode: 200,
      headers: { 'content-type': 'text/html; charset=utf-8' },
      body: `<h1>Hello, ${escapeHtml(who)}</h1><p>path ${escapeHtml(event.path)}${event.params?.['id'] ? `, id ${escapeHtml(event.params['id'])}` : ''}</p>`,
    };
  }
  if (event.method === 'POST') {
    let note: unknown;
    try {
      note = JSON.parse(event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body);
    } catch {
      return json(400, { error: 'send a JSON body' });
    }
    return json(201, { received: note, id: event.params?.['id'] ?? null });
  }
  return { ...json(405, { error: `${event.method} not allowed` }), headers: { allow: 'GET, POST', 'content-type': 'application/json' } };
};

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
