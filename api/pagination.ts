// Cursor pagination (SPEC §1): `?limit=` (default 50, max 200) and an opaque `?cursor=`; lists
// answer `{items, nextCursor}`. Keyset, never OFFSET: the cursor holds the last row's sort value
// and id, and the next page starts strictly after it.
import { and, gt, or, sql, type SQL } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import { Type } from 'typebox';
import { ApiError } from './errors.js';

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
};

export type CursorValue = string | number | null;

export function encodeCursor(value: CursorValue, id: string): string {
  return Buffer.from(JSON.stringify([value, id])).toString('base64url');
}

export function decodeCursor(cursor: string): { value: CursorValue; id: string } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      typeof parsed[1] === 'string' &&
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(parsed[1])
    ) {
      const [value] = parsed;
      if (value === null || typeof value === 'string' || typeof value === 'number') return { value, id: parsed[1] };
    }
  } catch {
    // fall through
  }
  throw new ApiError(400, 'invalid_cursor', 'cursor is not one this API issued');
}

/** A cursor of a list ordered by a timestamp: its value must be one (a cursor of another list is a 400). */
export function decodeTimestampCursor(cursor: string): { at: string; id: string } {
  const { value, id } = decodeCursor(cursor);
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}(:\d{2})?$/.test(value)) {
    throw new ApiError(400, 'invalid_cursor', 'cursor does not belong to this list');
  }
  return { at: value, id };
}

/**
 * The keyset condition of a newest-first list (`order by <timestamp> desc, id asc`): rows after the
 * cursor's (timestamp text as Postgres printed it, id).
 */
export function afterNewest(timestamp: AnyPgColumn, id: AnyPgColumn, cursor: string): SQL {
  const { at, id: lastId } = decodeTimestampCursor(cursor);
  const t = sql`${at}::timestamptz`;
  return or(sql`${timestamp} < ${t}`, and(sql`${timestamp} = ${t}`, gt(id, lastId)))!;
}

/** The page and the cursor of the next one (null at the end); `rows` holds one row more than the page. */
export function page<T extends { id: string }>(rows: T[], limit: number, sortValue: (row: T) => CursorValue) {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(sortValue(last), last.id) : null };
}
