import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, login, register, startHarness, type Harness } from '../support/harness.js';

let h: Harness;
let alice: Record<string, string>;
let bob: Record<string, string>;
beforeAll(async () => {
  h = await startHarness({ workers: false });
  alice = bearer((await login(h, (await register(h)).email)).accessToken);
  bob = bearer((await login(h, (await register(h)).email)).accessToken);
});
afterAll(() => h?.close());

const call = (headers: Record<string, string>, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) =>
  h.app.inject({ method, url: `/api/v1${url}`, headers, payload });
const create = async (headers: Record<string, string>, body: object) => {
  const res = await call(headers, 'POST', '/crm/fans', body);
  if (res.statusCode !== 201) throw new Error(`${res.statusCode} ${res.body}`);
  return res.json() as { id: string; handle: string };
};

describe('fans CRUD', () => {
  it('creates, reads, updates and soft-deletes a fan', async () => {
    const fan = await create(alice, {
      handle: 'crud_fan',
      name: 'Jo',
      tags: ['vip'],
      valueCents: 1500,
      lastSeenAt: '2026-11-01T10:00:00.000Z',
    });
    expect(fan).toMatchObject({
      platform: 'onlyfans',
      handle: 'crud_fan',
      name: 'Jo',
      tags: ['vip'],
      valueCents: 1500,
      optedOut: false,
      lastSeenAt: '2026-11-01T10:00:00.000Z',
    });
    expect((await call(alice, 'GET', `/crm/fans/${fan.id}`)).json()).toEqual(fan);

    const updated = await call(alice, 'PUT', `/crm/fans/${fan.id}`, {
      notes: 'likes cats',
      tags: ['vip', 'cats'],
      optedOut: true,
      name: null,
    });
    expect(updated.json()).toMatchObject({ notes: 'likes cats', tags: ['vip', 'cats'], optedOut: true, name: null, valueCents: 1500 });

    expect((await call(alice, 'POST', '/crm/fans', { handle: 'crud_fan' })).statusCode).toBe(409);
    expect(await create(alice, { handle: 'opted_out_from_start', optedOut: true })).toMatchObject({ optedOut: true });
    expect((await call(alice, 'DELETE', `/crm/fans/${fan.id}`)).statusCode).toBe(204);
    expect((await call(alice, 'GET', `/crm/fans/${fan.id}`)).statusCode).toBe(404);
    expect((await call(alice, 'DELETE', `/crm/fans/${fan.id}`)).statusCode).toBe(404);
    // A deleted fan's handle can be added again, as a new fan.
    const again = await create(alice, { handle: 'crud_fan' });
    expect(again.id).not.toBe(fan.id);
  });

  it('hides one creator’s fans from another: every route answers 404', async () => {
    const fan = await create(alice, { handle: 'private_fan' });
    for (const [method, payload] of [['GET'], ['PUT', { notes: 'x' }], ['DELETE']] as const) {
      const res = await call(bob, method, `/crm/fans/${fan.id}`, payload);
      expect(res.statusCode, method).toBe(404);
      expect(res.json().error.code).toBe('not_found');
    }
    expect((await call(bob, 'GET', '/crm/fans?search=private_fan')).json().items).toEqual([]);
    // Bob may have his own fan with the same handle.
    await create(bob, { handle: 'private_fan' });
    expect((await call(alice, 'GET', `/crm/fans/${fan.id}`)).json().notes).toBeNull();
  });

  it('rejects bad input with 400', async () => {
    for (const body of [
      { handle: 'has space' },
      { handle: 'ok', email: 'nope' },
      { handle: 'ok', valueCents: -1 },
      { handle: 'ok', tags: ['a,b'] },
      { handle: 'ok', creatorId: randomUUID() },
    ]) {
      expect((await call(alice, 'POST', '/crm/fans', body)).statusCode, JSON.stringify(body)).toBe(400);
    }
    expect((await call(alice, 'GET', '/crm/fans/not-a-uuid')).statusCode).toBe(400);
    expect((await call(alice, 'GET', '/crm/fans?cursor=garbage')).json().error.code).toBe('invalid_cursor');
    expect((await call(alice, 'GET', '/crm/fans?limit=201')).statusCode).toBe(400);
    expect((await call({}, 'GET', '/crm/fans')).statusCode).toBe(401);
  });
});

describe('fans list', () => {
  let carol: Record<string, string>;
  beforeAll(async () => {
    carol = bearer((await login(h, (await register(h)).email)).accessToken);
    const fans = [
      { handle: 'a_whale', name: 'Ana 100%', valueCents: 90_000, tags: ['vip'], lastSeenAt: '2026-11-20T00:00:00.000Z' },
      { handle: 'b_regular', name: 'Ben', valueCents: 2_000, tags: ['regular'], lastSeenAt: '2026-11-21T00:00:00.000Z' },
      { handle: 'c_new', name: 'Cy', valueCents: 0 },
      { handle: 'd_vip', name: 'Dee', valueCents: 90_000, tags: ['vip', 'regular'], lastSeenAt: '2026-10-01T00:00:00.000Z' },
      { handle: 'e_ghost', name: 'Eve', valueCents: 500 },
    ];
    for (const f of fans) await create(carol, f);
  });

  const all = async (query: string, limit: number) => {
    const handles: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await call(carol, 'GET', `/crm/fans?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode, res.body).toBe(200);
      handles.push(...res.json().items.map((f: { handle: string }) => f.handle));
      cursor = res.json().nextCursor;
    } while (cursor);
    return handles;
  };

  it('pages through every sort order without gaps or repeats', async () => {
    const byValue = await all('sort=value', 2);
    expect(byValue.slice(0, 2).sort()).toEqual(['a_whale', 'd_vip']);
    expect(byValue.slice(2)).toEqual(['b_regular', 'e_ghost', 'c_new']);
    expect(await all('sort=last_seen', 2)).toEqual(expect.arrayContaining(['b_regular', 'a_whale', 'd_vip', 'c_new', 'e_ghost']));
    expect((await all('sort=last_seen', 1)).slice(0, 3)).toEqual(['b_regular', 'a_whale', 'd_vip']);
    expect(await all('sort=created', 3)).toEqual(['a_whale', 'b_regular', 'c_new', 'd_vip', 'e_ghost']);
    expect(await all('sort=value', 200)).toHaveLength(5);
  });

  it('searches name and handle case-insensitively, literally, and filters by tag', async () => {
    expect(await all('search=BEN', 10)).toEqual(['b_regular']);
    expect(await all('search=_ghost', 10)).toEqual(['e_ghost']);
    expect(await all(`search=${encodeURIComponent('100%')}`, 10)).toEqual(['a_whale']);
    expect(await all('search=%25', 10)).toEqual(['a_whale']);
    expect(await all('tag=vip&sort=created', 10)).toEqual(['a_whale', 'd_vip']);
    expect(await all('tag=regular&search=dee', 10)).toEqual(['d_vip']);
  });
});
