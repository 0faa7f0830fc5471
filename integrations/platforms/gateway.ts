// The platform gateway (SPEC §3): how the send queue hands one message to a fan platform. OnlyFans
// has no public API, so the adapters are a local simulated platform (sandbox), an external sending
// service over signed HTTP (bridge), and a person (manual). Adapters classify failures: a transient
// one is retried with backoff, a permanent one goes to the dead-letter state.
import { createBridgeGateway } from './bridge.js';
import type { ConnectionSettings } from '../../domain/platform-connections.js';
import { createSandboxGateway } from './sandbox.js';
import type { PlatformGateway } from './types.js';

export interface GatewayContext {
  sandboxUrl: string;
  /** Bridges: production allows https to public addresses only (url-guard.ts). */
  production: boolean;
  /** Where the platform should send this connection's events (our inbound webhook). */
  webhookUrl: (connection: ConnectionSettings) => string;
}

const manualGateway: PlatformGateway = { send: async () => ({ outcome: 'handed_off' }) };

export function createGateway(connection: ConnectionSettings, context: GatewayContext): PlatformGateway {
  switch (connection.adapter) {
    case 'sandbox':
      return createSandboxGateway({
        baseUrl: context.sandboxUrl,
        accountId: connection.credentials.accountId ?? connection.id,
        apiKey: connection.credentials.apiKey ?? '',
        webhookUrl: context.webhookUrl(connection),
        webhookSecret: connection.webhookSecret,
        rateLimit: connection.rateLimit,
      });
    case 'bridge':
      return createBridgeGateway({
        baseUrl: connection.credentials.bridgeUrl ?? '',
        secret: connection.webhookSecret,
        production: context.production,
      });
    case 'manual':
      return manualGateway;
  }
}
