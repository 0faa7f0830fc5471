import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lib/config.js';

describe('config', () => {
  it('gives a working embedded stack with no environment at all', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      API_PORT: 3000,
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      usesEmbeddedPostgres: true,
      usesSesStandin: true,
      usesStripeStandin: true,
      ENABLE_DEV_ROUTES: true,
    });
    expect(c.DATABASE_URL).toMatch(/^postgres:\/\/.*:5433\/ofm$/);
    expect(c.SES_ENDPOINT).toBe('http://127.0.0.1:8005');
  });

  it('lists every bad variable at once', () => {
    expect(() => loadConfig({ API_PORT: 'eighty', LOG_LEVEL: 'loud' })).toThrow(ConfigError);
    try {
      loadConfig({ API_PORT: 'eighty', LOG_LEVEL: 'loud' });
    } catch (err) {
      expect(String(err)).toMatch(/API_PORT/);
      expect(String(err)).toMatch(/LOG_LEVEL/);
    }
  });

  it('refuses production without secrets, a database and real services', () => {
    try {
      loadConfig({ NODE_ENV: 'production' });
      expect.unreachable();
    } catch (err) {
      for (const name of ['JWT_SECRET', 'DATABASE_URL', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'CREDENTIALS_KEY'])
        expect(String(err)).toContain(name);
    }
    const ok = loadConfig({
      NODE_ENV: 'production',
      JWT_SECRET: 'a-real-secret-that-is-long-enough-0123456789',
      DATABASE_URL: 'postgres://u:p@db:5432/ofm',
      STRIPE_SECRET_KEY: 'sk_live_x',
      STRIPE_WEBHOOK_SECRET: 'whsec_real_secret_value',
      CREDENTIALS_KEY: Buffer.alloc(32, 7).toString('base64'),
    });
    expect(() => loadConfig({ CREDENTIALS_KEY: 'c2hvcnQ=' })).toThrow(/CREDENTIALS_KEY: must be 32 bytes/);
    expect(ok).toMatchObject({ ENABLE_DEV_ROUTES: false, usesSesStandin: false, SES_ENDPOINT: undefined });
  });

  it('finds the LLM endpoint, its output-limit parameter and refuses what cannot be budgeted or would leak the key', () => {
    expect(loadConfig({})).toMatchObject({
      usesLlmStandin: true,
      LLM_BASE_URL: 'http://127.0.0.1:8020/v1',
      LLM_OUTPUT_LIMIT_PARAM: 'max_tokens',
    });
    expect(loadConfig({ LLM_API_KEY: 'sk-x' })).toMatchObject({
      usesLlmStandin: false,
      LLM_BASE_URL: undefined,
      LLM_OUTPUT_LIMIT_PARAM: 'max_completion_tokens',
    });
    expect(loadConfig({ LLM_BASE_URL: 'http://127.0.0.1:11434/v1' })).toMatchObject({
      usesLlmStandin: false,
      LLM_OUTPUT_LIMIT_PARAM: 'max_tokens',
    });
    expect(() => loadConfig({ LLM_MODEL: 'mystery-model' })).toThrow(/LLM_MODEL: mystery-model has no price/);
    expect(() => loadConfig({ LLM_PRICES: '{"gpt-4o-mini": {"input": 1}}' })).toThrow(/LLM_PRICES/);
    expect(() => loadConfig({ LLM_TIMEOUT_MS: '600000' })).toThrow(/LLM_TIMEOUT_MS/);
    expect(() => loadConfig({ AI_DAILY_CAP_CENTS: '500000' })).toThrow(/AI_MAX_CAP_CENTS/);
    const production = {
      NODE_ENV: 'production',
      JWT_SECRET: 'a-real-secret-that-is-long-enough-0123456789',
      DATABASE_URL: 'postgres://u:p@db:5432/ofm',
      STRIPE_SECRET_KEY: 'sk_live_x',
      STRIPE_WEBHOOK_SECRET: 'whsec_real_secret_value',
      CREDENTIALS_KEY: Buffer.alloc(32, 7).toString('base64'),
    };
    expect(loadConfig(production)).toMatchObject({ usesLlmStandin: false, LLM_BASE_URL: undefined });
    expect(() => loadConfig({ ...production, LLM_BASE_URL: 'http://llm.internal:8000/v1', LLM_API_KEY: 'k' })).toThrow(
      /LLM_BASE_URL: must be https/,
    );
    expect(loadConfig({ ...production, LLM_BASE_URL: 'http://127.0.0.1:8000/v1' }).LLM_BASE_URL).toBe('http://127.0.0.1:8000/v1');
  });

  it('allows the development secrets and dev routes outside production only while the API listens on loopback', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', '::1', 'localhost'])
      expect(loadConfig({ API_HOST: host }), host).toMatchObject({ API_HOST: host, ENABLE_DEV_ROUTES: true });
    for (const host of ['0.0.0.0', '::', '192.168.1.20', 'api.example.com']) {
      expect(() => loadConfig({ API_HOST: host }), host).toThrow(ConfigError);
      try {
        loadConfig({ API_HOST: host, NODE_ENV: 'test' });
      } catch (err) {
        for (const name of ['JWT_SECRET', 'CREDENTIALS_KEY', 'STRIPE_WEBHOOK_SECRET', 'ENABLE_DEV_ROUTES'])
          expect(String(err)).toContain(name);
        expect(String(err)).toContain('API_HOST');
      }
    }
    const secrets = {
      JWT_SECRET: 'a-real-secret-that-is-long-enough-0123456789',
      STRIPE_WEBHOOK_SECRET: 'whsec_real_secret_value',
      CREDENTIALS_KEY: Buffer.alloc(32, 7).toString('base64'),
    };
    // Only what is still a development value is named.
    expect(() => loadConfig({ API_HOST: '0.0.0.0', ...secrets })).toThrow(/ENABLE_DEV_ROUTES/);
    expect(() => loadConfig({ API_HOST: '0.0.0.0', ...secrets, JWT_SECRET: undefined, ENABLE_DEV_ROUTES: 'false' })).toThrow(
      /JWT_SECRET(?![\s\S]*(CREDENTIALS_KEY|STRIPE_WEBHOOK_SECRET|ENABLE_DEV_ROUTES))/,
    );
    expect(loadConfig({ API_HOST: '0.0.0.0', ...secrets, ENABLE_DEV_ROUTES: 'false' })).toMatchObject({
      API_HOST: '0.0.0.0',
      ENABLE_DEV_ROUTES: false,
    });
  });

  it('trusts proxies by address only, and says so when given anything else', () => {
    expect(loadConfig({}).TRUST_PROXY).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.1, 10.1.0.0/16,' }).TRUST_PROXY).toEqual(['10.0.0.1', '10.1.0.0/16']);
    expect(() => loadConfig({ TRUST_PROXY: '1' })).toThrow(/TRUST_PROXY/);
    expect(() => loadConfig({ TRUST_PROXY: 'lb.internal' })).toThrow(/IP address or CIDR/);
  });

  it('splits CORS origins and defaults them to the frontend', () => {
    expect(loadConfig({ FRONTEND_URL: 'https://app.example.com' }).CORS_ORIGINS).toEqual(['https://app.example.com']);
    expect(loadConfig({ CORS_ORIGINS: 'https://a.io, https://b.io' }).CORS_ORIGINS).toEqual(['https://a.io', 'https://b.io']);
  });
});
