// `npm run db:migrate`: applies the committed migrations to DATABASE_URL (the compose stack's
// migration job and `npm run dev` call runMigrations directly).
import { runMigrations } from '../db/migrate.js';

const url = process.env.DATABASE_URL;
if (!url) {
  console.error('db:migrate: set DATABASE_URL to the database to migrate');
  process.exit(2);
}
await runMigrations(url);
console.log('db:migrate: migrations applied');
